"""Reconciler fixtures: a real meta repo, a real local runtime running the fake agent, cleanup.

State dirs live under the checkout's `test-artifacts/` rather than /tmp: the
sandbox mounts its own /tmp, which would hide other agents' files for the
wrong reason. Every test's agents are killed (whole process groups) at the
end, whatever happened.
"""

from __future__ import annotations

import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from desired.bootstrap import init_meta_repo
from desired.changes import add_agent, remove_agent, set_agent_field
from desired.repo import Author, MetaRepo
from hive_kit.paths import StateLayout
from reconciler.runtime import procs
from reconciler.runtime.local import LocalRuntime

REPO_ROOT = Path(__file__).resolve().parents[2]
FAKE_AGENT = REPO_ROOT / "tests" / "seams" / "fake_agent.py"
AGENT_COMMAND = (sys.executable, str(FAKE_AGENT))
TESTER = Author("Test Operator", "operator@example.test")


def kill_all(layout: StateLayout) -> None:
    procs.kill_all(layout.root)


@pytest.fixture
def layout() -> Iterator[StateLayout]:
    root = REPO_ROOT / "test-artifacts" / uuid.uuid4().hex[:10]
    lay = StateLayout(root)
    init_meta_repo(lay.meta)
    try:
        yield lay
    finally:
        kill_all(lay)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def repo(layout: StateLayout) -> MetaRepo:
    return MetaRepo(layout.meta)


@pytest.fixture
def runtime(layout: StateLayout) -> LocalRuntime:
    return LocalRuntime(layout, AGENT_COMMAND, stop_grace=2.0)


def add(repo: MetaRepo, name: str, **fields: object) -> str:
    info = repo.commit(lambda s: add_agent(s, {"name": name, **fields}), author=TESTER, message=f"add {name}")
    assert info is not None
    return info.revision


def set_field(repo: MetaRepo, name: str, field: str, value: object) -> str:
    info = repo.commit(lambda s: set_agent_field(s, name, field, value), author=TESTER, message="set")
    assert info is not None
    return info.revision


def remove(repo: MetaRepo, name: str) -> str:
    info = repo.commit(lambda s: remove_agent(s, name), author=TESTER, message=f"remove {name}")
    assert info is not None
    return info.revision
