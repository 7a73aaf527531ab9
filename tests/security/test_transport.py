"""Transport security: ``nexus-crm serve`` over TLS 1.2+/1.3 and the security headers.

The TLS tests start the real console script with a certificate from a throw-away CA made
by trustme, and talk to it with clients that trust that CA and force a protocol version.
The header tests run in process (httpx's ASGITransport) and on a real plain-HTTP server.
"""

from __future__ import annotations

import hashlib
import re
import socket
import ssl
import time
import warnings
from base64 import b64encode
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from typer.testing import CliRunner

from nexus_crm.cli.main import app as cli
from nexus_crm.cli.serve import tls_context
from nexus_crm.db import create_engine
from nexus_crm.security.headers import SecurityHeadersMiddleware
from nexus_crm.settings import Settings
from tests.processes import ServerError, ServerProcess, running_server, serve_command, server_env

HSTS = "max-age=31536000; includeSubDomains"
API_CSP = "default-src 'none'; frame-ancestors 'none'"
REFUSED = r"(?i)unsupported protocol|protocol version"  # OpenSSL's words, either side


@dataclass
class Pki:
    """A throw-away CA and a certificate for 127.0.0.1 and localhost, as PEM files."""

    ca: trustme.CA
    certfile: Path
    keyfile: Path

    def client(
        self, maximum: ssl.TLSVersion, minimum: ssl.TLSVersion | None = None
    ) -> ssl.SSLContext:
        """A client context trusting the CA, limited to ``minimum``..``maximum``."""
        ctx = ssl.create_default_context()
        self.ca.configure_trust(ctx)
        with warnings.catch_warnings():  # TLS 1.0/1.1 are deprecated: that is the point
            warnings.simplefilter("ignore", DeprecationWarning)
            if minimum is not None:
                ctx.minimum_version = minimum
            ctx.maximum_version = maximum
        if maximum < ssl.TLSVersion.TLSv1_2:
            ctx.set_ciphers("ALL:@SECLEVEL=0")  # let OpenSSL 3 offer the legacy versions at all
        return ctx


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """PEM files of a fresh CA-issued server certificate."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    folder = tmp_path_factory.mktemp("tls")
    certfile, keyfile = folder / "cert.pem", folder / "key.pem"
    for i, pem in enumerate(cert.cert_chain_pems):
        pem.write_to_path(str(certfile), append=i > 0)
    cert.private_key_pem.write_to_path(str(keyfile))
    return Pki(ca, certfile, keyfile)


def legacy_tls() -> tuple[ssl.TLSVersion, ssl.TLSVersion]:
    """TLS 1.0 and 1.1, fetched without the DeprecationWarning that pytest turns into errors."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1


def handshake(server: ssl.SSLContext, client: ssl.SSLContext) -> str:
    """A TLS handshake in memory (no sockets); the version agreed, or ssl.SSLError."""
    s_in, s_out, c_in, c_out = (ssl.MemoryBIO() for _ in range(4))
    srv = server.wrap_bio(s_in, s_out, server_side=True)
    cli_ = client.wrap_bio(c_in, c_out, server_hostname="localhost")
    for _ in range(10):
        done = 0
        for side in (cli_, srv):
            try:
                side.do_handshake()
                done += 1
            except ssl.SSLWantReadError:
                pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if done == 2:
            return str(cli_.version())
    raise AssertionError("the handshake did not finish")


# --- the TLS context, in memory -----------------------------------------------------------


def test_the_context_speaks_tls_1_2_and_1_3_with_forward_secret_aead_suites(pki: Pki) -> None:
    server = tls_context(str(pki.certfile), str(pki.keyfile))
    assert handshake(server, pki.client(ssl.TLSVersion.TLSv1_3)) == "TLSv1.3"
    tls12 = pki.client(ssl.TLSVersion.TLSv1_2)
    assert handshake(server, tls12) == "TLSv1.2"
    static_rsa = pki.client(ssl.TLSVersion.TLSv1_2)
    static_rsa.set_ciphers("AES128-GCM-SHA256:AES256-SHA256")  # no forward secrecy
    with pytest.raises(ssl.SSLError):
        handshake(server, static_rsa)


def test_the_context_refuses_tls_1_0_and_1_1_that_the_client_can_offer(pki: Pki) -> None:
    server = tls_context(str(pki.certfile), str(pki.keyfile))
    for version in legacy_tls():
        with pytest.raises(ssl.SSLError, match=REFUSED):
            handshake(server, pki.client(version, minimum=version))
    # Control: the same clients do get through to a server that allows the old versions,
    # so the refusal above is the server's and not a client unable to offer TLS 1.1.
    permissive = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    permissive.load_cert_chain(pki.certfile, pki.keyfile)
    permissive.set_ciphers("ALL:@SECLEVEL=0")
    tls10, tls11 = legacy_tls()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        permissive.minimum_version = tls10
        try:
            agreed = handshake(permissive, pki.client(tls11, minimum=tls11))
        except ssl.SSLError as exc:
            pytest.skip(f"this OpenSSL cannot speak TLS 1.1 at all ({exc}); refusal checked only")
    assert agreed == "TLSv1.1"


def test_tls_min_version_1_3_refuses_tls_1_2(pki: Pki) -> None:
    server = tls_context(str(pki.certfile), str(pki.keyfile), "1.3")
    assert server.minimum_version == ssl.TLSVersion.TLSv1_3
    assert handshake(server, pki.client(ssl.TLSVersion.TLSv1_3)) == "TLSv1.3"
    with pytest.raises(ssl.SSLError):
        handshake(server, pki.client(ssl.TLSVersion.TLSv1_2))


# --- nexus-crm serve: bad TLS options exit 2 with the reason -------------------------------


def run_serve(*args: str) -> tuple[int, str]:
    """``nexus-crm serve ARGS`` in process; exit code and output (never reaches uvicorn)."""
    result = CliRunner().invoke(cli, ["serve", "--port", "1", *args])
    return result.exit_code, result.output


def test_serve_needs_both_tls_files(pki: Pki) -> None:
    code, out = run_serve("--ssl-certfile", str(pki.certfile))
    assert code == 2
    assert "--ssl-certfile needs --ssl-keyfile too" in out
    code, out = run_serve("--ssl-keyfile", str(pki.keyfile))
    assert code == 2
    assert "--ssl-keyfile needs --ssl-certfile too" in out


def test_serve_names_an_unreadable_or_wrong_tls_file(pki: Pki, tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    code, out = run_serve("--ssl-certfile", str(pki.certfile), "--ssl-keyfile", str(missing))
    assert code == 2
    assert f"--ssl-keyfile {missing}: cannot read it (No such file or directory)" in out
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    code, out = run_serve("--ssl-certfile", str(garbage), "--ssl-keyfile", str(pki.keyfile))
    assert code == 2
    assert f"--ssl-certfile {garbage}" in out
    assert "not a PEM certificate chain and its matching private key" in out
    other_key = tmp_path / "other-key.pem"
    pki.ca.issue_cert("127.0.0.1").private_key_pem.write_to_path(str(other_key))
    code, out = run_serve("--ssl-certfile", str(pki.certfile), "--ssl-keyfile", str(other_key))
    assert code == 2
    assert "matching private key" in out
    assert "Traceback" not in out


def test_serve_refuses_an_encrypted_key_instead_of_prompting(pki: Pki, tmp_path: Path) -> None:
    key = serialization.load_pem_private_key(pki.keyfile.read_bytes(), password=None)
    encrypted = tmp_path / "encrypted-key.pem"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"a passphrase"),
        )
    )
    code, out = run_serve("--ssl-certfile", str(pki.certfile), "--ssl-keyfile", str(encrypted))
    assert code == 2
    assert "--ssl-keyfile is encrypted; give an unencrypted key" in out


# --- a real server over TLS -----------------------------------------------------------------


class TlsServer(ServerProcess):
    """``nexus-crm serve --ssl-certfile … --ssl-keyfile …``; healthy once /healthz answers."""

    def __init__(self, database_url: str, pki: Pki) -> None:
        tls = ["--ssl-certfile", str(pki.certfile), "--ssl-keyfile", str(pki.keyfile)]
        super().__init__(server_env(database_url), command=lambda p: [*serve_command(p), *tls])
        self.trust = pki.client(ssl.TLSVersion.MAXIMUM_SUPPORTED)

    @property
    def base_url(self) -> str:
        """``https://127.0.0.1:<port>``."""
        return f"https://127.0.0.1:{self.port}"

    def wait_healthy(self, timeout: float = 30.0) -> None:
        """Poll /healthz over TLS until 200; fail with the server's output otherwise."""
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.base_url, verify=self.trust, timeout=2.0) as client:
            while time.monotonic() < deadline and self.running:
                try:
                    if client.get("/healthz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        raise ServerError(f"no healthy TLS server:\n{self.output()}")


@pytest.fixture
def tls_server(db_url: str, pki: Pki) -> Iterator[TlsServer]:
    """A TLS server on the database under test."""
    server = TlsServer(db_url, pki)
    with server:
        server.start()
        yield server


def get_over(server: TlsServer, ctx: ssl.SSLContext, path: str) -> tuple[httpx.Response, str]:
    """GET ``path`` with the client context ``ctx``; the response and the TLS version used."""
    with httpx.Client(base_url=server.base_url, verify=ctx, timeout=5.0) as client:
        resp = client.get(path)
        ssl_object = resp.extensions["network_stream"].get_extra_info("ssl_object")
        return resp, str(ssl_object.version())


def legacy_handshake(server: TlsServer, ctx: ssl.SSLContext) -> None:
    """A TCP connection and a TLS handshake with ``ctx``; raises ssl.SSLError when refused."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    with sock, ctx.wrap_socket(sock, server_hostname="127.0.0.1"):
        pass


@pytest.mark.slow
def test_serve_over_tls_1_2_and_1_3_with_hsts_and_refuses_older(
    tls_server: TlsServer, pki: Pki
) -> None:
    for version, name in ((ssl.TLSVersion.TLSv1_2, "TLSv1.2"), (ssl.TLSVersion.TLSv1_3, "TLSv1.3")):
        resp, used = get_over(tls_server, pki.client(version), "/healthz")
        assert (resp.status_code, used) == (200, name)
        assert resp.headers["strict-transport-security"] == HSTS
        assert resp.headers["x-content-type-options"] == "nosniff"
        assert resp.headers["x-frame-options"] == "DENY"
        assert resp.headers["content-security-policy"] == API_CSP
    for version in legacy_tls():
        # uvicorn drops the connection without flushing OpenSSL's alert: the client sees EOF.
        with pytest.raises(ssl.SSLError, match=f"{REFUSED}|unexpected.eof"):
            legacy_handshake(tls_server, pki.client(version, minimum=version))
    static_rsa = pki.client(ssl.TLSVersion.TLSv1_2)
    static_rsa.set_ciphers("AES128-GCM-SHA256")  # uvicorn's own default context would accept it
    with pytest.raises(ssl.SSLError):
        legacy_handshake(tls_server, static_rsa)
    legacy_handshake(tls_server, pki.client(ssl.TLSVersion.TLSv1_2))  # the same path works
    # A client that does not trust the CA is refused too (the certificate is checked).
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{tls_server.base_url}/healthz", timeout=5.0)
    assert "Traceback" not in tls_server.output()


# --- headers on a real plain-HTTP server (with the dashboard) and behind a proxy -----------


@pytest.mark.slow
def test_plain_http_has_the_headers_but_no_hsts_unless_a_trusted_proxy_says_https(
    db_url: str,
) -> None:
    env = {"DASHBOARD_ENABLED": "true"}
    with (
        running_server(db_url, command=serve_command, env=env) as server,
        httpx.Client(base_url=server.base_url, timeout=5.0) as client,
    ):
        api = client.get("/healthz")
        login = client.get("/login")
        proxied = client.get("/login", headers={"X-Forwarded-Proto": "https"})
    for resp in (api, login):
        assert resp.status_code == 200
        assert "strict-transport-security" not in resp.headers
        assert resp.headers["x-content-type-options"] == "nosniff"
        assert resp.headers["x-frame-options"] == "DENY"
        assert resp.headers["referrer-policy"] == "same-origin"
    assert api.headers["content-security-policy"] == API_CSP
    csp = login.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "object-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "'unsafe-inline'" not in directive(csp, "script-src")
    # uvicorn trusts X-Forwarded-Proto from 127.0.0.1 (the default --forwarded-allow-ips).
    assert proxied.headers["strict-transport-security"] == HSTS


def directive(csp: str, name: str) -> str:
    """One directive's value in a policy ('' when absent)."""
    for part in csp.split(";"):
        key, _, value = part.strip().partition(" ")
        if key == name:
            return value
    return ""


def sha256_source(script: str) -> str:
    """The CSP source expression of an inline script's text."""
    return f"'sha256-{b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"


# --- headers in process: API, /docs, /redoc, errors -------------------------------------------


async def test_api_json_gets_the_strictest_policy(client: httpx.AsyncClient) -> None:
    for path in ("/healthz", "/openapi.json", "/agent-usage/tiers", "/no/such/route"):
        resp = await client.get(path)
        assert resp.headers["content-security-policy"] == API_CSP, path
        assert resp.headers["x-content-type-options"] == "nosniff"
        assert resp.headers["x-frame-options"] == "DENY"
        assert resp.headers["referrer-policy"] == "same-origin"
        assert "strict-transport-security" not in resp.headers  # http://test
    assert (await client.get("/agent-usage/tiers")).status_code == 401


async def test_https_requests_get_hsts_with_the_configured_max_age(
    client: httpx.AsyncClient,
) -> None:
    resp = await client.get("https://test/healthz")
    assert resp.headers["strict-transport-security"] == HSTS
    settings = Settings(DATABASE_URL="sqlite:///:memory:", HSTS_MAX_AGE_SECONDS=600)
    app = SecurityHeadersMiddleware(json_app(), settings=settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as c:
        resp = await c.get("https://test/")
    assert resp.headers["strict-transport-security"] == "max-age=600; includeSubDomains"


async def test_the_docs_allow_exactly_their_cdn_and_their_own_inline_script(
    client: httpx.AsyncClient,
) -> None:
    docs = await client.get("/docs")
    (init,) = re.findall(r"<script>(.*?)</script>", docs.text, re.DOTALL)  # SwaggerUIBundle(…)
    csp = docs.headers["content-security-policy"]
    assert directive(csp, "script-src") == f"https://cdn.jsdelivr.net {sha256_source(init)}"
    assert directive(csp, "default-src") == "'none'"
    assert directive(csp, "connect-src") == "'self'"  # the schema at /openapi.json
    assert directive(csp, "frame-ancestors") == "'none'"
    redoc = (await client.get("/redoc")).headers["content-security-policy"]
    assert directive(redoc, "script-src") == "https://cdn.jsdelivr.net"  # no inline script


# --- the middleware on HTML like NiceGUI's: hashed inline scripts, gzip, streaming ----------

INLINE = ['const a = "<b>";\r\nwindow.ok = 1;', '{"imports": {"vue": "/vue.js"}}', ""]
PAGE = (
    "<!doctype html><html><head>"
    f'<script type="importmap">{INLINE[1]}</script>'
    '<script defer src="/static/app.js"></script>'
    f"</head><body><SCRIPT type=module>{INLINE[0]}</SCRIPT >"
    f"<script>{INLINE[2]}</script><p>hello</p></body></html>"
)


def expected_hashes() -> list[str]:
    """The inline scripts' sources, hashed after HTML's CRLF -> LF normalisation."""
    return [sha256_source(s.replace("\r\n", "\n")) for s in (INLINE[1], INLINE[0], INLINE[2])]


def json_app() -> Starlette:
    """A one-route JSON app."""
    return Starlette(routes=[Route("/", lambda _: JSONResponse({"ok": True}))])


def html_app() -> SecurityHeadersMiddleware:
    """HTML served whole, gzipped inside the middleware (as NiceGUI's is), and streamed."""

    async def stream(_: Request) -> Response:
        chunks = [PAGE[i : i + 7].encode() for i in range(0, len(PAGE), 7)]
        return StreamingResponse(iter(chunks), media_type="text/html")

    async def own(_: Request) -> Response:
        return HTMLResponse(PAGE, headers={"Content-Security-Policy": "default-src 'self'"})

    routes = [
        Route("/page", lambda _: HTMLResponse(PAGE)),
        Route("/stream", stream),
        Route("/own", own),
        Route("/corrupt", lambda _: HTMLResponse(PAGE, headers={"Content-Encoding": "gzip"})),
    ]
    inner = GZipMiddleware(Starlette(routes=routes), minimum_size=0)
    settings = Settings(DATABASE_URL="sqlite:///:memory:")
    return SecurityHeadersMiddleware(inner, settings=settings)


@pytest.mark.parametrize("path", ["/page", "/stream"])
@pytest.mark.parametrize("encoding", ["gzip", "identity"])
async def test_html_gets_the_hashes_of_exactly_its_inline_scripts(path: str, encoding: str) -> None:
    transport = httpx.ASGITransport(app=html_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        resp = await c.get(path, headers={"Accept-Encoding": encoding})
    assert resp.text == PAGE  # the body is passed on unchanged
    assert resp.headers.get("content-encoding", "identity") == encoding
    csp = resp.headers["content-security-policy"]
    assert directive(csp, "script-src").split() == ["'self'", "'unsafe-eval'", *expected_hashes()]
    for name, value in (
        ("default-src", "'self'"),
        ("object-src", "'none'"),
        ("base-uri", "'self'"),
        ("form-action", "'self'"),
        ("frame-ancestors", "'none'"),
        ("connect-src", "'self'"),
    ):
        assert directive(csp, name) == value, name


async def test_a_policy_set_by_the_app_is_kept() -> None:
    transport = httpx.ASGITransport(app=html_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        resp = await c.get("/own")
    assert resp.headers["content-security-policy"] == "default-src 'self'"
    assert resp.headers["x-frame-options"] == "DENY"
    assert resp.text == PAGE


async def test_an_undecodable_html_body_gets_no_hashes() -> None:
    transport = httpx.ASGITransport(app=html_app())
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://test") as c,
        c.stream("GET", "/corrupt", headers={"Accept-Encoding": "identity"}) as resp,
    ):
        csp = resp.headers["content-security-policy"]
    assert resp.status_code == 200
    assert directive(csp, "script-src") == "'self' 'unsafe-eval'"  # fails closed


# --- behind a proxy: only --forwarded-allow-ips may say "https" ------------------------------


@pytest.mark.slow
def test_forwarded_headers_from_an_untrusted_address_are_ignored(db_url: str) -> None:
    # The proxy's address is a documentation address (RFC 5737): nothing is sent there; the
    # test's own requests come from 127.0.0.1, which is then not trusted.
    trusted_proxy = ["--forwarded-allow-ips", "192.0.2.10"]
    with (
        running_server(db_url, command=lambda p: [*serve_command(p), *trusted_proxy]) as server,
        httpx.Client(base_url=server.base_url, timeout=5.0) as client,
    ):
        resp = client.get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert resp.status_code == 200
    assert "strict-transport-security" not in resp.headers


# --- the database connection: libpq's sslmode reaches asyncpg ---------------------------------


def test_a_libpq_sslmode_in_database_url_becomes_asyncpgs_ssl() -> None:
    url = "postgresql://postgres.ref:pw@pooler.supabase.example:5432/postgres?sslmode=require"
    assert Settings(DATABASE_URL=url).database_url == (
        "postgresql+asyncpg://postgres.ref:pw@pooler.supabase.example:5432/postgres?ssl=require"
    )
    url = "postgres://u:p@h/db?application_name=nexus&sslmode=verify-full"
    assert Settings(DATABASE_URL=url).database_url.endswith(
        "?application_name=nexus&ssl=verify-full"
    )


async def test_sslmode_require_is_honoured_by_the_real_driver(postgresql_url: str) -> None:
    async def connect(mode: str) -> bool:
        """Whether this connection is encrypted (pg_stat_ssl), or raise when refused."""
        engine = create_engine(Settings(DATABASE_URL=f"{postgresql_url}?sslmode={mode}"))
        try:
            async with engine.connect() as conn:
                sql = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
                return bool((await conn.execute(text(sql))).scalar_one())
        finally:
            await engine.dispose()

    assert await connect("disable") is False
    engine = create_engine(Settings(DATABASE_URL=postgresql_url))
    async with engine.connect() as conn:
        server_ssl = (await conn.execute(text("SHOW ssl"))).scalar_one() == "on"
    await engine.dispose()
    if server_ssl:
        assert await connect("require") is True
    else:  # the local server has no TLS: a client that requires it must refuse to go on
        with pytest.raises(ConnectionError, match="rejected SSL upgrade"):
            await connect("require")
