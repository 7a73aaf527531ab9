"""Entry point of the ``nexus-crm`` command."""

from __future__ import annotations

import typer

from nexus_crm.cli import (
    alerts,
    churn,
    db,
    demo,
    evaluate,
    genesis,
    imports,
    keys,
    mcp,
    privacy,
    serve,
    simulate,
    upsell,
    users,
)

app = typer.Typer(
    name="nexus-crm",
    help="NexusCRM agent-usage platform: API server, demo, database and keys.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("serve")(serve.serve)
app.command("demo")(demo.demo)
app.command("simulate")(simulate.simulate)
app.command("evaluate")(evaluate.evaluate)
app.command("mcp")(mcp.mcp)
app.add_typer(db.app, name="db")
app.add_typer(keys.app, name="keys")
app.add_typer(users.app, name="users")
app.add_typer(imports.app, name="import")
app.add_typer(genesis.app, name="genesis")
app.add_typer(alerts.app, name="alerts")
app.add_typer(churn.app, name="churn")
app.add_typer(upsell.app, name="upsell")
app.add_typer(privacy.app, name="privacy")


def main() -> None:
    """Run the CLI."""
    app()
