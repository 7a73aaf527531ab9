"""docs/architecture.md names only files that exist and draws the domain order of the code."""

from __future__ import annotations

import re
from pathlib import Path

from tests.test_domains import LAYERS

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"
PACKAGE = ROOT / "src" / "nexus_crm"
#: A named path starting with one of these is relative to the repository, any other to PACKAGE.
ROOT_FOLDERS = ("src/", "docs/", "tests/", "bench/", "database/")
FENCED = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`([^`\n]+)`")
# Placeholders such as ``api/<domain>.py`` or an URL path (``/mcp``) do not match.
PATH = re.compile(r"[\w.-]+(?:/[\w.-]+)*/?")
LINK = re.compile(r"\]\(([^)\s]+)\)")
NUMBERED_LINE = re.compile(r"^\s*(\d+)\s+(.*)$", re.MULTILINE)
DOMAINS = frozenset().union(*LAYERS)


def prose() -> str:
    """The document without its fenced blocks (the picture names domains, not paths)."""
    return FENCED.sub("", DOC.read_text(encoding="utf-8"))


def picture() -> str:
    """The first fenced block: the domain order."""
    found = FENCED.search(DOC.read_text(encoding="utf-8"))
    assert found, "docs/architecture.md has no fenced picture of the domains"
    return found.group(0)


def named_paths() -> list[str]:
    """Backticked spans that look like a file or a package: a slash or a file suffix."""
    spans = CODE_SPAN.findall(prose())
    return [
        s for s in spans if PATH.fullmatch(s) and ("/" in s or s.endswith((".py", ".md", ".sql")))
    ]


def exists(path: str) -> bool:
    """Whether ``path`` names a file or (with a trailing slash) a folder of the repository."""
    target = (ROOT if path.startswith(ROOT_FOLDERS) else PACKAGE) / path
    return target.is_dir() if path.endswith("/") else target.exists()


def test_every_named_path_exists() -> None:
    paths = named_paths()
    missing = sorted({p for p in paths if not exists(p)})
    assert not missing, f"docs/architecture.md names paths that do not exist: {missing}"
    assert len(set(paths)) >= 20, f"only {len(set(paths))} paths found: is the parser broken?"


def test_every_link_to_a_local_file_resolves() -> None:
    links = [t for t in LINK.findall(prose()) if "://" not in t and not t.startswith("#")]
    missing = [t for t in links if not (DOC.parent / t.split("#")[0]).exists()]
    assert links, "no links found: is the parser broken?"
    assert not missing, f"docs/architecture.md links to missing files: {missing}"


def test_the_picture_lists_every_domain() -> None:
    drawn = set(re.findall(r"\w+", picture()))
    missing = sorted(DOMAINS - drawn)
    assert not missing, f"domains of LAYERS missing from docs/architecture.md: {missing}"


def test_the_picture_draws_the_layers_in_order() -> None:
    lines = {
        int(n): set(re.findall(r"\w+", rest)) & DOMAINS
        for n, rest in NUMBERED_LINE.findall(picture())
    }
    drawn = [lines[n] for n in sorted(lines)]
    assert sorted(lines) == list(range(1, len(LAYERS) + 1)), "number the layers 1 to N"
    assert drawn == [set(layer) for layer in LAYERS], (
        "docs/architecture.md draws another order than tests/test_domains.py's LAYERS"
    )
