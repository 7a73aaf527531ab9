"""Dashboard strings in English and Spanish; the locale comes from a cookie or LOCALE."""

from __future__ import annotations

from typing import Final

LOCALES: Final = ("en", "es")
LOCALE_COOKIE: Final = "nexus_locale"

_STRINGS: Final[dict[str, tuple[str, str]]] = {
    "live": ("Live", "En vivo"),
    "alerts": ("Alerts", "Alertas"),
    "business": ("Business", "Negocio"),
    "logout": ("Log out", "Cerrar sesión"),
    "login": ("Log in", "Iniciar sesión"),
    "email": ("Email", "Correo electrónico"),
    "password": ("Password", "Contraseña"),
    "login_failed": ("Wrong email or password.", "Correo o contraseña incorrectos."),
    "search": ("Customer ID…", "ID de cliente…"),
    "interactions": ("Interactions today", "Interacciones hoy"),
    "tokens": ("Tokens today", "Tokens hoy"),
    "active_users": ("Active users today", "Usuarios activos hoy"),
    "avg_response": ("Avg response time", "Tiempo de respuesta prom."),
    "vs_yesterday": ("vs yesterday", "vs ayer"),
    "no_change": ("no data yesterday", "sin datos ayer"),
    "agents": ("Agents", "Agentes"),
    "tiers": ("Users per tier", "Usuarios por plan"),
    "users": ("users", "usuarios"),
    "live_alerts": ("Live alerts", "Alertas en vivo"),
    "no_alerts": ("No open alerts.", "Sin alertas abiertas."),
    "activity": ("Recent activity", "Actividad reciente"),
    "no_activity": ("No activity yet.", "Sin actividad todavía."),
    "acknowledge": ("Acknowledge", "Reconocer"),
    "resolve": ("Resolve", "Resolver"),
    "dismiss": ("Dismiss", "Descartar"),
    "snooze": ("Snooze 24 h", "Posponer 24 h"),
    "acknowledged": ("acknowledged", "reconocida"),
    "active": ("active", "activa"),
    "resolved": ("resolved", "resuelta"),
    "dismissed": ("dismissed", "descartada"),
    "interactions_short": ("interactions", "interacciones"),
    "tokens_short": ("tokens", "tokens"),
    "response_short": ("avg response", "resp. prom."),
    "customer": ("Customer", "Cliente"),
    "usage_vs_limit": ("Usage vs limit (period)", "Uso vs límite (periodo)"),
    "daily_by_agent": ("Daily use by agent", "Uso diario por agente"),
    "churn": ("Churn probability", "Probabilidad de abandono"),
    "clv": ("Customer lifetime value", "Valor de vida del cliente"),
    "no_churn": ("Not scored (not active yet).", "Sin puntaje (aún no activo)."),
    "upsell": ("Start upsell sequence", "Iniciar secuencia de upsell"),
    "upsell_note": (
        "Upsell sequences arrive in a later release.",
        "Las secuencias de upsell llegan en una versión posterior.",
    ),
    "not_found": ("No customer with that ID.", "No hay cliente con ese ID."),
    "status": ("Status", "Estado"),
    "type": ("Type", "Tipo"),
    "all": ("All", "Todas"),
    "open": ("Open", "Abiertas"),
    "select_all": ("Select all", "Seleccionar todo"),
    "selected": ("selected", "seleccionadas"),
    "done": ("Done", "Hecho"),
    "forbidden": ("Your role cannot do that.", "Tu rol no puede hacer eso."),
    "period": ("Billing period", "Periodo de facturación"),
    "tier": ("Tier", "Plan"),
}


def translate(key: str, locale: str) -> str:
    """The string ``key`` in ``locale`` (English when the locale is unknown)."""
    english, spanish = _STRINGS[key]
    return spanish if locale == "es" else english


def pick_locale(cookie: str | None, default: str) -> str:
    """The cookie's locale when it is a known one, else the configured default."""
    return cookie if cookie in LOCALES else default
