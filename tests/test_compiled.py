"""The optional compiled build (issue 17): the per-tick modules listed for mypyc in pyproject.toml, compiled into C
extensions. The default install runs them as Python; CI builds the compiled wheel and runs the per-tick suites on it
with CARRYBOT_EXPECT_COMPILED=1, where this checks that every listed module really is the compiled one."""

import importlib
import os
import tomllib
from pathlib import Path

import pytest

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def _listed() -> list[str]:
    cfg = tomllib.loads(PYPROJECT.read_text())
    files = cfg["tool"]["hatch"]["build"]["targets"]["wheel"]["hooks"]["mypyc"]["include"]
    return [f.removesuffix(".py").replace("/", ".") for f in files]


def test_the_compiled_build_is_opt_in_and_lists_only_modules_that_exist() -> None:
    cfg = tomllib.loads(PYPROJECT.read_text())["tool"]["hatch"]["build"]["targets"]["wheel"]["hooks"]["mypyc"]
    assert cfg["enable-by-default"] is False  # the default install is pure Python
    for name in _listed():
        assert importlib.util.find_spec(name) is not None, name


@pytest.mark.skipif(not os.environ.get("CARRYBOT_EXPECT_COMPILED"), reason="the pure-Python install (the default)")
def test_every_listed_module_runs_compiled() -> None:
    not_compiled = [n for n in _listed() if not str(importlib.import_module(n).__file__).endswith(".so")]
    assert not not_compiled
