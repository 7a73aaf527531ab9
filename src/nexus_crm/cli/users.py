"""``nexus-crm users``: dashboard users (argon2id password hashes, roles)."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated

import typer

from nexus_crm import security as accounts
from nexus_crm.cli.common import load_settings, run_in_session
from nexus_crm.kit.time import utcnow

app = typer.Typer(
    help="Dashboard users: create, list, set-role, set-password, disable.", no_args_is_help=True
)


class Role(StrEnum):
    """What a dashboard user may do (docs/dashboard.md#roles)."""

    ADMIN = "admin"
    ANALYST = "analyst"
    SALES = "sales"


def read_password() -> str:
    """The password: prompted twice on a terminal, else the first line of stdin."""
    if sys.stdin.isatty():
        value: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        return value
    return sys.stdin.readline().rstrip("\r\n")


@app.command("create")
def create(
    email: str,
    role: Annotated[Role, typer.Option("--role", "-r", help="admin, analyst or sales")],
) -> None:
    """Create a dashboard user. Example: echo 'pw…' | nexus-crm users create ana@ngx.mx -r sales"""
    settings = load_settings()
    password = read_password()
    user = run_in_session(
        settings,
        lambda s: accounts.create_user(s, email=email, password=password, role=role.value),
    )
    typer.echo(f"created {user.email} ({user.role})")


@app.command("list")
def list_users() -> None:
    """List dashboard users (never their password hashes). Example: nexus-crm users list"""
    rows = run_in_session(load_settings(), accounts.list_users)
    typer.echo(f"{'email':40}  {'role':8}  {'created':19}  {'last login':19}  status")
    for u in rows:
        last = f"{u.last_login_at:%Y-%m-%d %H:%M:%S}" if u.last_login_at else "never"
        status = f"disabled {u.disabled_at:%Y-%m-%d}" if u.disabled_at else "active"
        typer.echo(
            f"{u.email[:40]:40}  {u.role:8}  {u.created_at:%Y-%m-%d %H:%M:%S}  {last:19}  {status}"
        )


@app.command("disable")
def disable(email: str) -> None:
    """Disable a user and end their sessions. Example: nexus-crm users disable ana@ngx.mx"""
    user = run_in_session(
        load_settings(), lambda s: accounts.disable_user(s, email=email, now=utcnow())
    )
    typer.echo(f"disabled {user.email}")


@app.command("set-role")
def set_role(
    email: str,
    role: Annotated[Role, typer.Option("--role", "-r", help="admin, analyst or sales")],
) -> None:
    """Change a user's role (audited). Example: nexus-crm users set-role ana@ngx.mx -r admin"""
    user = run_in_session(
        load_settings(), lambda s: accounts.set_role(s, email=email, role=role.value)
    )
    typer.echo(f"{user.email} is now {user.role}")


@app.command("set-password")
def set_password(email: str) -> None:
    """Set a new password, ending their sessions and tokens. Example: … set-password a@ngx.mx"""
    settings = load_settings()
    password = read_password()
    user = run_in_session(
        settings, lambda s: accounts.set_password(s, email=email, password=password)
    )
    typer.echo(f"password changed for {user.email}; their sessions and tokens have ended")
