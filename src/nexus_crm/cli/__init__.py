"""The ``nexus-crm`` command line (Typer)."""
