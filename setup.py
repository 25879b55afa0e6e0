"""Compiles the core to C with mypyc where it can; the pure-Python source runs where it cannot.

The core (``streams/`` and the records of ``schemas/``) is plain typed Python. mypyc turns each
module into a C extension beside its source, which runs the offline replay about twice as
fast. Every extension is optional: on a machine with no C compiler or Python headers the build
warns and installs the source alone, which gives the same answers, more slowly.
``NUDGE_PURE_PYTHON=1`` skips compiling. schemas/compiled.py decides at import time which runs.
"""

import os
from pathlib import Path

from setuptools import setup

# The records the core passes around, decoding's fast path, and the core itself. Not the msgspec
# structs (wire_structs.py), which mypyc cannot build, nor the slow decoder or schemas/compiled.py.
COMPILED_SCHEMAS = ["schemas/events.py", "schemas/outputs.py", "schemas/timestamps.py", "schemas/wire.py"]


def core_extensions() -> list:
    if os.environ.get("NUDGE_PURE_PYTHON") == "1":
        return []
    from mypyc.build import mypycify

    core = sorted(str(path) for path in Path("streams").rglob("*.py") if path.name != "__init__.py")
    extensions = mypycify(COMPILED_SCHEMAS + core, opt_level="3", group_name="nudge_core")
    for extension in extensions:
        extension.optional = True
    return extensions


setup(ext_modules=core_extensions())
