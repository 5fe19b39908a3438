"""Build hook: with ``SEAWALL_MYPYC=1``, compile the gateway's hot path with mypyc.

Why: every event runs the decoder, the policy and the removed-value check once per
vendor, and compiled they cost about a sixth less CPU (docs/benchmarks.md). Pure
Python stays the default, as black does with its own mypyc build: an editable or
source install must run the ``.py`` files a developer edits, and a compiled module
would shadow them. ``make wheel`` builds the compiled wheel a deployment installs;
``make test-compiled`` runs the whole suite against it.

The modules compiled are listed in ``seawall/hotpath.py`` (the runtime reports from
there whether they are compiled). Every other module stays Python either way.
"""

from __future__ import annotations

import os
import runpy
from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).resolve().parent


def _ext_modules() -> list[object]:
    if os.environ.get("SEAWALL_MYPYC") != "1":
        return []
    from mypyc.build import mypycify  # needs mypy and Seawall's dependencies installed

    hot = runpy.run_path(str(ROOT / "src" / "seawall" / "hotpath.py"))["COMPILED"]
    paths = [f"src/{name.replace('.', '/')}.py" for name in hot]
    return list(mypycify(paths, opt_level="3", group_name="seawall_hotpath"))


setup(ext_modules=_ext_modules())
