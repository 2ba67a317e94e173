"""The harness installs and runs with the kit alone: no pygit2, watchfiles or jinja2.

A harness in a pod on another machine gets ``hive_kit`` and ``hive_harness``
and their own dependencies, nothing of the host. This builds that
environment for real: a fresh venv, hyperhive installed with ``--no-deps``
(a real wheel build, not an editable link to this checkout), then only the
``harness`` extra's list from pyproject.toml. Packages come from PyPI (or
pip's cache). Nothing is replaced.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow

HOST_ONLY = ("pygit2", "watchfiles", "jinja2")


def _run(argv: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=600, **kw)  # type: ignore[call-overload]


def _harness_requirements() -> list[str]:
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    return list(pyproject["project"]["optional-dependencies"]["harness"])


def _pinned(requirements: list[str]) -> list[str]:
    """The same versions as the venv under test, so pip takes them from its cache when it can."""
    frozen = _run([sys.executable, "-m", "pip", "freeze", "--exclude-editable"]).stdout.splitlines()
    versions = {line.split("==")[0].lower().replace("_", "-"): line for line in frozen if "==" in line}
    out = []
    for req in requirements:
        name = req.split(">=")[0].split("==")[0].strip().lower()
        out.append(versions.get(name, req))
    return out


@pytest.fixture(scope="module")
def kit_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("kit-venv")
    venv = root / "venv"
    made = _run([sys.executable, "-m", "venv", str(venv)])
    assert made.returncode == 0, made.stderr
    py = venv / "bin" / "python"
    # a copy of the checkout, so the wheel build writes nothing into the tree under test
    src = root / "src"
    copied = _run(["git", "-C", str(REPO_ROOT), "ls-files", "-z"])
    for rel in filter(None, copied.stdout.split("\0")):
        target = src / rel
        if (REPO_ROOT / rel).is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes((REPO_ROOT / rel).read_bytes())
    for argv in (
        [str(py), "-m", "pip", "install", "-q", "--no-deps", str(src)],
        [str(py), "-m", "pip", "install", "-q", *_pinned(_harness_requirements())],
    ):
        done = _run(argv, cwd=root)
        assert done.returncode == 0, f"{argv}: {done.stdout}\n{done.stderr}"
    return venv


def test_the_host_only_libraries_are_absent(kit_venv: Path) -> None:
    for name in HOST_ONLY:
        found = _run([str(kit_venv / "bin" / "python"), "-c", f"import {name}"], cwd="/")
        assert found.returncode != 0, f"{name} is importable in the kit venv; the test proves nothing"


def test_hive_harness_help_runs(kit_venv: Path) -> None:
    done = _run([str(kit_venv / "bin" / "hive-harness"), "--help"], cwd="/")
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
    done = _run([str(kit_venv / "bin" / "python"), "-c", script], cwd="/")
    assert done.returncode == 0, done.stderr
    count, _, names = done.stdout.partition(" ")
    expected = {p.stem for p in (REPO_ROOT / "hive_harness").glob("*.py")} - {"__init__", "__main__"}
    assert {f"hive_harness.{n}" for n in expected} <= set(names.split()), names
    assert int(count) >= len(expected)
