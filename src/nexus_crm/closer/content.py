"""The messages of a sequence: the customer's own figures rendered by Jinja2 templates.

Templates live in ``templates/<locale>/<kind>.txt.j2`` (locale ``en`` or ``es``, kind
``initial``, ``follow_up`` or ``last_offer``); the first line is ``Subject: …``. A file of
the same path under UPSELL_TEMPLATES_DIR takes precedence (docs/upsell.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.analytics.service import get_customer_usage
from nexus_crm.models import UpsellSequence, UpsellStep
from nexus_crm.tiers import service as tier_service

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class Rendered:
    """A message ready to deliver."""

    subject: str
    body: str
    to: str | None
    figures: dict[str, Any]


@lru_cache(maxsize=8)
def environment(override_dir: str | None) -> Environment:
    """The Jinja2 environment: the override directory first, then the shipped templates."""
    loaders = [FileSystemLoader(override_dir)] if override_dir else []
    loaders.append(FileSystemLoader(str(TEMPLATES)))
    return Environment(
        loader=ChoiceLoader(loaders),
        autoescape=select_autoescape(enabled_extensions=("html", "htm")),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def _n(value: float) -> str:
    return f"{value:,.0f}"


async def figures(session: AsyncSession, seq: UpsellSequence, today: date) -> dict[str, Any]:
    """The customer's own figures for the templates: period use, limits, top agent, offer."""
    usage = await get_customer_usage(session, user_id=seq.user_id, today=today)
    u = usage.usage
    target = await tier_service.tier_row(session, seq.recommended_tier)
    current = await tier_service.tier_row(session, usage.tier)
    top = max(usage.agents, key=lambda a: (a.interactions, a.tokens), default=None)
    return {
        "user_id": usage.user_id,
        "name": usage.name or usage.user_id,
        "email": usage.email,
        "tier": usage.tier,
        "tier_name": current.display_name if current else usage.tier,
        "usage_pct": f"{u.usage_percentage:.0f}",
        "tokens_pct": f"{u.tokens_percentage:.0f}",
        "interactions_pct": f"{u.interactions_percentage:.0f}",
        "tokens_used": _n(u.tokens_used),
        "token_limit": _n(u.token_limit),
        "interactions_used": _n(u.interactions_used),
        "interaction_limit": _n(u.interaction_limit),
        "period_start": u.period_start.isoformat(),
        "period_last_day": (u.period_end - timedelta(days=1)).isoformat(),
        "top_agent": top.agent_id if top else None,
        "top_agent_interactions": _n(top.interactions) if top else "0",
        **_offer(target, seq.recommended_tier),
    }


def _offer(target: Any, tier: str) -> dict[str, Any]:
    if target is None:  # the tier was deleted after the sequence started
        unknown = dict.fromkeys(("price", "recommended_tokens", "recommended_interactions"), "?")
        return {"recommended_tier": tier, "recommended_name": tier, "currency": "", **unknown}
    return {
        "recommended_tier": target.tier,
        "recommended_name": target.display_name,
        "price": f"{target.monthly_price_cents / 100:,.2f}",
        "currency": target.currency,
        "recommended_tokens": _n(target.monthly_tokens),
        "recommended_interactions": _n(target.monthly_interactions),
    }


def render(
    step: UpsellStep,
    seq: UpsellSequence,
    facts: dict[str, Any],
    *,
    locale: str,
    templates_dir: str | None,
) -> Rendered:
    """Render one step's subject and body from its template and the figures."""
    template = environment(templates_dir).get_template(f"{locale}/{step.kind}.txt.j2")
    text = template.render(**facts, reason=seq.reason, step=step.kind)
    first, _, body = text.partition("\n")
    subject = first.removeprefix("Subject:").strip()
    return Rendered(
        subject=subject, body=body.lstrip("\n"), to=facts.get("email"), figures=dict(facts)
    )


def as_payload(rendered: Rendered) -> dict[str, Any]:
    """The message as JSON (the webhook channel's ``message``)."""
    return asdict(rendered)
