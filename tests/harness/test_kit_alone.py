"""The harness installs and runs with the kit alone: no pygit2, watchfiles or jinja2.

A harness in a pod on another machine gets ``hive_kit`` and ``hive_harness``
and their own dependencies, nothing of the host. This builds that
environment for real: a fresh venv, hyperhive installed with ``--no-deps``
(a real wheel build, not an editable link to this checkout), then only the
``harness`` extra's list from pyproject.toml, at the versions of the venv
under test (tests/wheels.py; from pip's cache or PyPI). Nothing is replaced.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.wheels import checked, constraints, fresh_venv, run

pytestmark = pytest.mark.slow

HOST_ONLY = ("pygit2", "watchfiles", "jinja2")


def _harness_requirements() -> list[str]:
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    return list(pyproject["project"]["optional-dependencies"]["harness"])


@pytest.fixture(scope="module")
def kit_venv(hyperhive_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("kit-venv")
    venv = fresh_venv(root / "venv")
    py = venv / "bin" / "python"
    pins = constraints(root / "constraints.txt")
    checked([py, "-m", "pip", "install", "-q", "--no-deps", hyperhive_wheel], cwd=root)
    checked([py, "-m", "pip", "install", "-q", "-c", pins, *_harness_requirements()], cwd=root)
    return venv


def test_the_host_only_libraries_are_absent(kit_venv: Path) -> None:
    for name in HOST_ONLY:
        found = run([str(kit_venv / "bin" / "python"), "-c", f"import {name}"], cwd="/")
        assert found.returncode != 0, f"{name} is importable in the kit venv; the test proves nothing"


def test_hive_harness_help_runs(kit_venv: Path) -> None:
    done = run([str(kit_venv / "bin" / "hive-harness"), "--help"], cwd="/")
    assert done.returncode == 0, done.stderr
    assert "serve" in done.stdout and "Traceback" not in done.stderr


def test_every_harness_and_kit_module_imports(kit_venv: Path) -> None:
    script = (
        "import importlib, pkgutil, hive_kit, hive_harness\n"
        "names = []\n"
        "for pkg in (hive_kit, hive_harness):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        if not m.name.endswith('__main__'):  # that one runs the CLI\n"
        "            importlib.import_module(m.name); names.append(m.name)\n"
        "print(len(names), ' '.join(names))\n"
    )
    done = run([str(kit_venv / "bin" / "python"), "-c", script], cwd="/")
    assert done.returncode == 0, done.stderr
    count, _, names = done.stdout.partition(" ")
    expected = {p.stem for p in (REPO_ROOT / "hive_harness").glob("*.py")} - {"__init__", "__main__"}
    assert {f"hive_harness.{n}" for n in expected} <= set(names.split()), names
    assert int(count) >= len(expected)


def test_the_system_prompts_come_with_the_harness(kit_venv: Path) -> None:
    """The prompts are the harness's package data: a kit-only install has them, with no checkout."""
    script = (
        "from hive_harness.prompts import load_system_prompt\n"
        "from hive_kit.launch import AgentLaunchConfig\n"
        "print(load_system_prompt(AgentLaunchConfig(name='boss', role='manager', model='m')))\n"
    )
    done = run([kit_venv / "bin" / "python", "-c", script], cwd="/", env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert "You are boss" in done.stdout and "manager of a hyperhive swarm" in done.stdout
