"""Which build of the core runs: the C that mypyc compiled from this source, or the source itself.

Installing compiles the core (``streams/`` and the records of ``schemas/``) with mypyc where a
C compiler is at hand (see setup.py); the source stays the reference and is what runs without
one. Python imports a compiled module ahead of its source, so a compiled module older than its
source would quietly run code that is no longer there. The source runs instead, every module of
it, when ``NUDGE_PURE_PYTHON=1`` asks for it or when any compiled module is older than its
source or lacks the shared library they all link to. Never a mix: compiled modules call each
other directly, so a mix would still run the old code.

This module is imported by both packages' ``__init__`` before anything else of theirs, and is
never compiled itself.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import logging
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Sequence

log = logging.getLogger(__name__)

PURE_PYTHON_ENV = "NUDGE_PURE_PYTHON"
PACKAGES = ("schemas", "streams")
SHARED_LIBRARY = "nudge_core__mypyc"  # mypyc's group name in setup.py: the code of every compiled module
COMPILED = "compiled (mypyc)"
PURE = "pure Python"
_ROOT = Path(__file__).resolve().parent.parent
_EXTENSION = importlib.machinery.EXTENSION_SUFFIXES[0]  # e.g. .cpython-311-x86_64-linux-gnu.so
# Installing a wheel writes sources and compiled modules in no set order, moments apart.
_INSTALL_SPREAD_S = 2.0


def compiled_modules(root: Path = _ROOT) -> dict[Path, Path]:
    """Source file -> the compiled module beside it, for this interpreter."""
    found: dict[Path, Path] = {}
    for package in PACKAGES:
        for extension in (root / package).rglob(f"*{_EXTENSION}"):
            found[extension.with_name(extension.name[: -len(_EXTENSION)] + ".py")] = extension
    return found


def why_not_compiled(modules: dict[Path, Path], *, shared_library_found: bool) -> str | None:
    """Why the compiled modules must not run (None: they may), in one line for the log."""
    if not modules:
        return None
    if not shared_library_found:
        return f"the compiled core has no {SHARED_LIBRARY} library"
    for source, extension in sorted(modules.items()):
        if not source.exists():
            return f"{extension.name} has no source beside it"
        if source.stat().st_mtime > extension.stat().st_mtime + _INSTALL_SPREAD_S:
            return f"{source.name} changed after the core was compiled (make install compiles it again)"
    return None


class _SourceFirst(importlib.abc.MetaPathFinder):
    """Finds the core's modules as source, ahead of the compiled modules beside them."""

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if path is None or fullname.partition(".")[0] not in PACKAGES:
            return None  # a top-level package's __init__.py is source anyway
        name = fullname.rpartition(".")[2]
        for entry in path:
            source = os.path.join(entry, name + ".py")
            if os.path.isfile(source):
                return importlib.util.spec_from_file_location(fullname, source)
        return None  # a sub-package: its __init__.py is source too


def _choose() -> str:
    modules = compiled_modules()
    if not modules:
        return PURE
    if os.environ.get(PURE_PYTHON_ENV) == "1":
        reason: str | None = f"{PURE_PYTHON_ENV}=1"
    else:
        reason = why_not_compiled(modules, shared_library_found=importlib.util.find_spec(SHARED_LIBRARY) is not None)
        if reason is not None:
            log.info("running the pure-Python core: %s", reason)
    if reason is None:
        return COMPILED
    sys.meta_path.insert(0, _SourceFirst())
    return PURE


BUILD = _choose()
"""``COMPILED`` or ``PURE``: what every module of ``schemas`` and ``streams`` runs as in this process."""
