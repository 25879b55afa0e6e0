"""Doctests of compiled core modules run in the pure-Python pass of `make test`: pytest reads a
doctest from the source but imports the module, and a compiled module is not that source."""

from __future__ import annotations

from pathlib import Path

from schemas.compiled import BUILD, COMPILED, compiled_modules

_COMPILED_SOURCES = frozenset(compiled_modules()) if BUILD == COMPILED else frozenset()


def pytest_ignore_collect(collection_path: Path) -> bool | None:
    return True if collection_path in _COMPILED_SOURCES else None
