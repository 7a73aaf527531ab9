"""Routes built by a function, one per action, named as if written out by hand."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter


def add_post(
    router: APIRouter,
    path: str,
    endpoint: Callable[..., Any],
    *,
    name: str,
    doc: str,
    **options: Any,
) -> None:
    """Add ``endpoint`` as ``POST path``; ``name`` and ``doc`` give its operation id and text."""
    # FastAPI reads the operation id and summary from the function's name, the description
    # from its docstring: a built endpoint gets them as a written one would.
    endpoint.__name__ = endpoint.__qualname__ = name
    endpoint.__doc__ = doc
    router.post(path, **options)(endpoint)
