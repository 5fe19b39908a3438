"""The compiled build's module list: what setup.py compiles and serve reports."""

from __future__ import annotations

import importlib.util

from seawall.hotpath import COMPILED, build_name, compiled_modules


def test_every_listed_module_exists() -> None:
    for name in COMPILED:
        assert importlib.util.find_spec(name) is not None, name


def test_an_install_is_wholly_pure_or_wholly_compiled() -> None:
    # `make test` runs an editable (pure) install, `make test-compiled` the wheel.
    found = compiled_modules()
    assert build_name() == ("compiled" if found else "pure")
    assert found in ([], list(COMPILED))
