"""A logging filter that masks credentials before any handler sees a record.

The WebSocket accepts ``?api_key=`` (browsers cannot set headers on it), and uvicorn's access
log prints the whole URL: without this filter the key would land in the logs.
"""

from __future__ import annotations

import logging
import re
from typing import Final

MASK: Final = "***"
_PATTERNS: Final = (
    # query parameters that carry credentials: ?api_key=…, &token=…, &access_token=…
    re.compile(r"(?i)((?:^|[?&\s\"'])(?:api_key|key|token|access_token|refresh_token)=)[^&\s\"']+"),
    # Authorization header values quoted in messages
    re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]+"),
    # our API keys and webhook secrets wherever they appear
    re.compile(r"()\bncrm_[A-Za-z0-9]+_[A-Za-z0-9_-]+"),
    re.compile(r"()\bwhsec_[A-Za-z0-9+/=]+"),
    # JSON Web Tokens (header.payload.signature, base64url)
    re.compile(r"()\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"),
)


def redact(text: str) -> str:
    """``text`` with credentials replaced by ``***``."""
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return text


def _scrub(record: logging.LogRecord) -> None:
    if isinstance(record.msg, str):
        record.msg = redact(record.msg)
    if isinstance(record.args, tuple):
        record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
    elif isinstance(record.args, dict):
        record.args = {k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()}


_installed = False


def install() -> None:
    """Scrub every log record of the process as it is created (idempotent).

    A record factory rather than a handler filter: it covers every logger and handler,
    including ones configured later (uvicorn's, a deployment's own).
    """
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        _scrub(record)
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
