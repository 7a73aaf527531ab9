"""``nexus-crm serve``: run the API server, over plain HTTP or TLS (docs/deployment.md)."""

from __future__ import annotations

import functools
import ssl
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Literal

import typer
import uvicorn
from uvicorn.config import Config

from nexus_crm.cli.common import load_settings

TlsVersion = Literal["1.2", "1.3"]
TLS_VERSIONS: Mapping[str, ssl.TLSVersion] = MappingProxyType(
    {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
)
# TLS 1.2 suites with forward secrecy and AEAD only (Mozilla's "intermediate" profile);
# the TLS 1.3 suites are all AEAD and stay OpenSSL's defaults.
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"
ContextFactory = Callable[[Config, Callable[[], ssl.SSLContext]], ssl.SSLContext]


class TlsConfigError(ValueError):
    """A certificate or key that cannot serve TLS; the message says which file and why."""


def _encrypted_key() -> str:
    # Without a password callback OpenSSL would prompt on the terminal and hang a service.
    raise TlsConfigError("--ssl-keyfile is encrypted; give an unencrypted key (mode 0600)")


def tls_context(certfile: str, keyfile: str, minimum: TlsVersion = "1.2") -> ssl.SSLContext:
    """A server SSLContext refusing TLS < ``minimum`` (1.0 and 1.1 always), FS+AEAD suites."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = TLS_VERSIONS[minimum]
    ctx.set_ciphers(TLS12_CIPHERS)
    ctx.options |= ssl.OP_NO_RENEGOTIATION | ssl.OP_CIPHER_SERVER_PREFERENCE
    ctx.load_cert_chain(certfile, keyfile, password=_encrypted_key)
    return ctx


def _uvicorn_context(
    config: Config, default: Callable[[], ssl.SSLContext], *, minimum: TlsVersion
) -> ssl.SSLContext:
    """uvicorn's ``ssl_context_factory``: our context instead of its default (no min version)."""
    ctx = tls_context(str(config.ssl_certfile), str(config.ssl_keyfile), minimum)
    alpn: list[str] | None = getattr(config.http_protocol_class, "alpn_protocols", None)
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def check_tls_files(certfile: Path | None, keyfile: Path | None, minimum: TlsVersion) -> None:
    """Raise TlsConfigError unless both files are given, readable and a matching pair."""
    if certfile is None and keyfile is None:
        return
    if certfile is None or keyfile is None:
        given = "--ssl-certfile" if certfile else "--ssl-keyfile"
        missing = "--ssl-keyfile" if certfile else "--ssl-certfile"
        raise TlsConfigError(f"{given} needs {missing} too (or give neither for plain HTTP)")
    for option, path in (("--ssl-certfile", certfile), ("--ssl-keyfile", keyfile)):
        try:
            path.read_bytes()
        except OSError as exc:
            raise TlsConfigError(f"{option} {path}: cannot read it ({exc.strerror})") from None
    try:
        tls_context(str(certfile), str(keyfile), minimum)
    except ssl.SSLError as exc:
        raise TlsConfigError(
            f"--ssl-certfile {certfile} / --ssl-keyfile {keyfile}: not a PEM certificate "
            f"chain and its matching private key ({exc.reason or exc})"
        ) from None


SslCertfile = Annotated[
    Path | None, typer.Option(help="PEM certificate chain: serve HTTPS (with --ssl-keyfile)")
]
SslKeyfile = Annotated[
    Path | None, typer.Option(help="PEM private key of --ssl-certfile (unencrypted)")
]


def context_factory(
    certfile: Path | None, keyfile: Path | None, minimum: TlsVersion
) -> ContextFactory | None:
    """uvicorn's TLS context factory (None: plain HTTP); exit 2 with the reason on bad files."""
    try:
        check_tls_files(certfile, keyfile, minimum)
    except TlsConfigError as exc:
        typer.echo(f"configuration error: {exc}", err=True)
        raise typer.Exit(2) from None
    return None if certfile is None else functools.partial(_uvicorn_context, minimum=minimum)


def serve(
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (the seed's 8001)")] = 8001,
    workers: Annotated[int, typer.Option(help="worker processes")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
    ssl_certfile: SslCertfile = None,
    ssl_keyfile: SslKeyfile = None,
    tls_min_version: Annotated[
        TlsVersion, typer.Option(help="oldest TLS version accepted")
    ] = "1.2",
    proxy_headers: Annotated[
        bool, typer.Option(help="trust X-Forwarded-Proto/For from --forwarded-allow-ips")
    ] = True,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(help="proxy addresses to trust (default: $FORWARDED_ALLOW_IPS or 127.0.0.1)"),
    ] = None,
) -> None:
    """Serve the API. Example: nexus-crm serve --ssl-certfile cert.pem --ssl-keyfile key.pem"""
    load_settings()  # fail fast, with a readable message, on bad configuration
    factory = context_factory(ssl_certfile, ssl_keyfile, tls_min_version)
    uvicorn.run(
        "nexus_crm.app:create_served_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        proxy_headers=proxy_headers,
        forwarded_allow_ips=forwarded_allow_ips,
        ssl_certfile=ssl_certfile if factory else None,
        ssl_keyfile=ssl_keyfile if factory else None,
        ssl_context_factory=factory,
    )
