"""Architecture rules of DESIGN.md §3, checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_genesis_client_never_imports_the_server() -> None:
    files = list((SRC / "genesis_crm").rglob("*.py"))
    assert files
    for f in files:
        bad = {m for m in imports(f) if m.split(".")[0] == "nexus_crm"}
        assert not bad, f"{f} imports {bad}"


def test_services_and_repositories_do_not_import_fastapi() -> None:
    files = [
        f
        for name in ("service.py", "repository.py", "flows.py")
        for f in (SRC / "nexus_crm").rglob(name)
    ]
    assert len(files) >= 6
    for f in files:
        bad = {m for m in imports(f) if m.split(".")[0] in ("fastapi", "starlette")}
        assert not bad, f"{f} imports {bad}"


def test_routers_hold_no_sql() -> None:
    api = SRC / "nexus_crm" / "api"
    # Not routers: deps opens the sessions; errors maps SQLAlchemy's exceptions to a 503.
    routers = [f for f in api.glob("*.py") if f.name not in ("deps.py", "errors.py")]
    assert len(routers) >= 10
    for f in routers:
        bad = {m for m in imports(f) if m.split(".")[0] == "sqlalchemy"}
        assert not bad, f"{f} imports {bad}"
    handlers = {m for m in imports(api / "errors.py") if m.split(".")[0] == "sqlalchemy"}
    assert handlers == {"sqlalchemy.exc"}, f"api/errors.py imports {handlers}"


def test_the_error_tree_is_framework_free() -> None:
    # Every layer raises these; the HTTP rendering lives in kit/http.py and api/errors.py.
    path = SRC / "nexus_crm" / "errors.py"
    bad = {m for m in imports(path) if m.split(".")[0] in ("fastapi", "starlette")}
    assert not bad, f"{path} imports {bad}"
