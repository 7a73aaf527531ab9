"""``nexus-crm keys``: API keys and webhook secrets."""

from __future__ import annotations

import base64
import secrets
from typing import Annotated

import typer

from nexus_crm.cli.common import load_settings, run_in_session
from nexus_crm.security import Scope, service

app = typer.Typer(
    help="API keys (stored hashed, shown once) and webhook secrets.", no_args_is_help=True
)


@app.command("create")
def create(
    name: str,
    scope: Annotated[list[Scope], typer.Option("--scope", "-s", help="repeatable")],
) -> None:
    """Create an API key; print it alone on stdout. Example: nexus-crm keys create bi -s read"""
    settings = load_settings()
    _, plaintext = run_in_session(
        settings, lambda s: service.create_api_key(s, name=name, scopes=[x.value for x in scope])
    )
    typer.echo(plaintext)


@app.command("list")
def list_keys() -> None:
    """List API keys (never their secrets). Example: nexus-crm keys list"""
    rows = run_in_session(load_settings(), service.list_api_keys)
    typer.echo(f"{'id':36}  {'prefix':8}  {'name':20}  {'scopes':20}  {'created':20}  status")
    for k in rows:
        status = f"revoked {k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "active"
        typer.echo(
            f"{k.id!s:36}  {k.prefix:8}  {k.name[:20]:20}  {','.join(k.scopes):20}  "
            f"{k.created_at:%Y-%m-%d %H:%M:%S}  {status}"
        )


@app.command("revoke")
def revoke(ident: str) -> None:
    """Revoke a key by id or prefix. Example: nexus-crm keys revoke 1a2b3c4d"""
    run_in_session(load_settings(), lambda s: service.revoke_api_key(s, ident))
    typer.echo(f"revoked {ident}")


@app.command("webhook-secret")
def webhook_secret() -> None:
    """Print a new random whsec_ secret for GENESIS_WEBHOOK_SECRET / CRM_WEBHOOK_SECRET."""
    typer.echo("whsec_" + base64.b64encode(secrets.token_bytes(32)).decode())
