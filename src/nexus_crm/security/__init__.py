"""Security: webhook signatures, API keys and scopes, users, sessions, tokens, rate limits."""

from __future__ import annotations

from nexus_crm.security.headers import SecurityHeadersMiddleware
from nexus_crm.security.logredact import install as install_log_redaction
from nexus_crm.security.nulguard import NulGuardMiddleware
from nexus_crm.security.payloads import API_BODY_BYTES, BodyLimitMiddleware, check_json_depth
from nexus_crm.security.principals import (
    Principal,
    authenticate_session,
    key_principal,
    same_origin,
)
from nexus_crm.security.ratelimit import (
    PROBE_PATHS,
    IpRateLimitMiddleware,
    RateLimiter,
    enforce_rate_limit,
    hit_client_ip,
    limiter_of,
)
from nexus_crm.security.scopes import Scope
from nexus_crm.security.sessions import COOKIE_NAME, cookie_secure, issue_session, read_session
from nexus_crm.security.signatures import (
    HEADER_ID,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    sign,
    verify_signer,
)
from nexus_crm.security.throttle import LoginThrottle
from nexus_crm.security.tokens import (
    TokenPair,
    authenticate_access,
    authenticate_bearer,
    issue_tokens,
    refresh_tokens,
)
from nexus_crm.security.users import (
    authenticate_user,
    create_user,
    disable_user,
    end_sessions,
    list_users,
    session_user,
    set_password,
    set_role,
)
from nexus_crm.security.webhooks import SignedWebhook, VerifiedWebhook

__all__ = (
    "API_BODY_BYTES",
    "COOKIE_NAME",
    "HEADER_ID",
    "HEADER_SIGNATURE",
    "HEADER_TIMESTAMP",
    "PROBE_PATHS",
    "BodyLimitMiddleware",
    "IpRateLimitMiddleware",
    "LoginThrottle",
    "NulGuardMiddleware",
    "Principal",
    "RateLimiter",
    "Scope",
    "SecurityHeadersMiddleware",
    "SignedWebhook",
    "TokenPair",
    "VerifiedWebhook",
    "authenticate_access",
    "authenticate_bearer",
    "authenticate_session",
    "authenticate_user",
    "check_json_depth",
    "cookie_secure",
    "create_user",
    "disable_user",
    "end_sessions",
    "enforce_rate_limit",
    "hit_client_ip",
    "install_log_redaction",
    "issue_session",
    "issue_tokens",
    "key_principal",
    "limiter_of",
    "list_users",
    "read_session",
    "refresh_tokens",
    "same_origin",
    "session_user",
    "set_password",
    "set_role",
    "sign",
    "verify_signer",
)
