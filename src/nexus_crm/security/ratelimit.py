"""Rate limits per API key, per user, per client IP and per webhook signing secret.

Counts live in memory (one process) or in Redis (several processes share them), with the
``limits`` library's sliding-window counter: two counters per identity, whatever the limit.
A request over a limit is refused with 429 and ``Retry-After``. If Redis cannot be reached
the request is let through and a warning logged: a limiter outage must not become an API one.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable, Collection, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from nexus_crm.errors import TooManyRequests
from nexus_crm.kit.http import nexus_response
from nexus_crm.security.principals import Principal
from nexus_crm.settings import Settings

if TYPE_CHECKING:  # redis is the optional "redis" extra, imported only for that backend
    from redis.asyncio import ConnectionPool

log = logging.getLogger("nexus_crm.ratelimit")
Kind = Literal["key", "user", "ip", "webhook"]
WHO: Mapping[Kind, str] = MappingProxyType(
    {
        "key": "this API key",
        "user": "this user",
        "ip": "this client address",
        "webhook": "this webhook signing secret",
    }
)
# Probes and the scraper ask often from one address; they are not limited per address.
PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
REDIS_TIMEOUT_S = 1.0
WARN_EVERY_S = 60.0


def parse_limit(text: str) -> RateLimitItem | None:
    """A limit in the ``limits`` notation ("100/minute", "5/2 seconds"); None when empty.

    Settings has checked the notation, so a ValueError here is a programming error.
    """
    return parse(text) if text.strip() else None


def limits_of(settings: Settings) -> dict[Kind, RateLimitItem | None]:
    """The configured limit of each kind (None: off)."""
    texts: dict[Kind, str] = {
        "key": settings.rate_limit_per_key,
        "user": settings.rate_limit_per_user,
        "ip": settings.rate_limit_per_ip,
        "webhook": settings.rate_limit_webhook,
    }
    return {kind: parse_limit(text) for kind, text in texts.items()}


def _digest(identity: str) -> str:
    # Keys, e-mails and addresses are not stored in the counters' names, only a digest.
    return hashlib.sha256(identity.encode()).hexdigest()[:24]


class RateLimiter:
    """Counts hits per (kind, identity) and refuses those over the kind's limit."""

    def __init__(
        self,
        storage: Storage,
        limits: Mapping[Kind, RateLimitItem | None],
        *,
        on_reject: Callable[[Kind], None] | None = None,
        pool: ConnectionPool | None = None,
    ) -> None:
        self._strategy = SlidingWindowCounterRateLimiter(storage)
        self._limits = dict(limits)
        self._on_reject = on_reject
        self._pool = pool
        self._warned_at = -math.inf

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        prefix: str = "nexus_crm",
        on_reject: Callable[[Kind], None] | None = None,
    ) -> RateLimiter:
        """The limiter ``RATE_LIMIT_*`` describe; ``prefix`` names its keys in Redis."""
        limits = limits_of(settings)
        if settings.rate_limit_backend == "memory":
            return cls(MemoryStorage(), limits, on_reject=on_reject)
        try:
            from redis.asyncio import ConnectionPool
        except ImportError as exc:
            raise RuntimeError(
                "RATE_LIMIT_BACKEND=redis needs the redis package: pip install 'nexus-crm[redis]'"
            ) from exc
        pool = ConnectionPool.from_url(
            settings.redis_url,
            socket_timeout=REDIS_TIMEOUT_S,
            socket_connect_timeout=REDIS_TIMEOUT_S,
        )
        shared: dict[str, Any] = {"connection_pool": pool}  # ours, so that aclose() ends it
        storage = RedisStorage(
            f"async+{settings.redis_url}",
            implementation="redispy",
            key_prefix=prefix,
            wrap_exceptions=True,
            **shared,
        )
        return cls(storage, limits, on_reject=on_reject, pool=pool)

    async def hit(self, kind: Kind, identity: str, *, cost: int = 1) -> None:
        """Count ``cost`` hits for ``identity``; raise TooManyRequests when over the limit."""
        item = self._limits.get(kind)
        if item is None:
            return
        key = _digest(identity)
        try:
            if await self._strategy.hit(item, kind, key, cost=min(cost, item.amount)):
                return
            stats = await self._strategy.get_window_stats(item, kind, key)
        except StorageError as exc:
            self._storage_down(exc)
            return
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        if self._on_reject is not None:
            self._on_reject(kind)
        raise TooManyRequests(
            f"rate limit of {item.amount} per {_window(item)} for {WHO[kind]} exceeded; "
            f"retry after {retry_after} s",
            retry_after=retry_after,
        )

    def _storage_down(self, exc: StorageError) -> None:
        now = time.monotonic()
        if now - self._warned_at >= WARN_EVERY_S:
            self._warned_at = now
            log.warning(
                "rate limit storage unreachable, requests are not limited: %s",
                type(exc.storage_error).__name__,
            )

    async def aclose(self) -> None:
        """Close the Redis connections (nothing to do in memory)."""
        if self._pool is not None:
            await self._pool.aclose()


def _window(item: RateLimitItem) -> str:
    unit = item.GRANULARITY.name
    return unit if item.multiples == 1 else f"{item.multiples} {unit}s"


def client_ip(scope: Scope) -> str:
    """The client address of a request (the proxy's, unless uvicorn --proxy-headers)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def limiter_of(scope: Scope) -> RateLimiter:
    """The app's rate limiter (read per request, so tests may swap it)."""
    limiter: RateLimiter = scope["app"].state.rate_limiter
    return limiter


async def hit_client_ip(request: Request) -> None:
    """Count a request against its client address (the webhook's failed signatures)."""
    await limiter_of(request.scope).hit("ip", client_ip(request.scope))


async def enforce_rate_limit(request: Request, principal: Principal) -> None:
    """Count an authenticated request against its key's or user's limit (once a request)."""
    if getattr(request.state, "rate_limited_as", None) == principal.actor:
        return
    request.state.rate_limited_as = principal.actor
    kind, _, who = principal.actor.partition(":")
    await limiter_of(request.scope).hit("key" if kind == "key" else "user", who)


class IpRateLimitMiddleware:
    """Pure ASGI middleware counting every HTTP request by client address.

    ``skip`` names paths not counted here: probes and metrics, and the webhook, which is
    limited per signing secret and counts against the address only when its signature fails.
    """

    def __init__(self, app: ASGIApp, *, skip: Collection[str] = ()) -> None:
        self.app = app
        self.skip = frozenset(skip)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.skip:
            await self.app(scope, receive, send)
            return
        try:
            await limiter_of(scope).hit("ip", client_ip(scope))
        except TooManyRequests as exc:
            await nexus_response(exc)(scope, receive, send)
            return
        await self.app(scope, receive, send)
