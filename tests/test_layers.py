"""The import contracts in pyproject.toml catch what they say they catch.

Each probe copies the packages to a temporary tree, plants one forbidden
import, and runs the real ``lint-imports`` over the copy: the contract that
names that arrow must break. A contract that lets its probe through is a
blacklist with a hole, not a statement of the architecture.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, subprocess_env

PACKAGES = ("hive_kit", "desired", "hive_core", "reconciler", "hive_harness", "hive_web", "hive")
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = subprocess_env()
    env["PYTHONPATH"] = str(tree)
    return subprocess.run(
        [str(LINT), "--config", str(tree / "pyproject.toml")],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for pkg in PACKAGES:
        shutil.copytree(
            REPO_ROOT / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__", "static")
        )
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _plant(tree: Path, module: str, line: str) -> None:
    path = tree / (module.replace(".", "/") + ".py")
    path.write_text(path.read_text() + f"\n{line}\n")


def test_the_untouched_tree_keeps_every_contract(tree: Path) -> None:
    done = _lint(tree)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("hive_harness.loop", "import hive_core.sockets", "The harness stands on the kit alone"),
        ("hive_harness.prompts", "import desired.schema", "The harness stands on the kit alone"),
        ("hive_core.core", "import hive_harness.loop", "No host package imports the harness"),
        ("hive_kit.wire", "import pygit2", "The kit imports no host-only library"),
        ("hive_kit.client", "import hive_core.core", "One-way layers"),
        ("desired.schema", "import reconciler.plan", "One-way layers"),
        ("hive_web.views.swarm", "from reconciler.loop import Reconciler", "The dashboard only reads"),
        ("hive_web.readers.reconciler", "import reconciler.runtime.kubernetes", "The dashboard only reads"),
        # the two probes issue 10 named, as they were written then (hive_core.paths is hive_kit.paths now)
        ("hive_harness.runtime", "from hive_core import paths", "The harness stands on the kit alone"),
        ("hive_core.routing", "import hive_harness", "No host package imports the harness"),
    ],
)
def test_a_planted_forbidden_import_breaks_its_contract(
    tree: Path, module: str, line: str, contract: str
) -> None:
    _plant(tree, module, line)
    done = _lint(tree)
    assert done.returncode != 0, f"{module}: `{line}` passed every contract:\n{done.stdout}"
    broken = [chunk for chunk in done.stdout.split("\n\n") if "BROKEN" in chunk]
    assert any(contract in " ".join(chunk.split()) for chunk in broken), done.stdout
