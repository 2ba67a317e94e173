"""Fixtures for the Forgejo tests: a meta repo, and the Forgejo stand-in seeded from it.

The stand-in (``tests/seams/forgejo.py``) replaces a Forgejo server, which
cannot run here; everything else in these tests is real.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from desired.bootstrap import init_meta_repo
from hive_kit.paths import StateLayout
from tests.conftest import REPO_ROOT, run_hive
from tests.seams.forgejo import ForgejoStandIn
from tests.web.conftest import TEST_AUTHOR, server_loop

__all__ = ["server_loop"]  # the dashboard's loop thread, as in tests/web


@pytest.fixture
def layout(tmp_path: Path) -> StateLayout:
    lay = StateLayout(tmp_path / "state")
    lay.root.mkdir()
    init_meta_repo(lay.meta, TEST_AUTHOR)
    return lay


@pytest.fixture
def forge(layout: StateLayout, tmp_path: Path) -> Iterator[ForgejoStandIn]:
    stand_in = ForgejoStandIn(tmp_path / "forgejo")
    stand_in.seed(layout.meta)
    stand_in.start()
    yield stand_in
    stand_in.stop()
    assert stand_in.unexpected == [], "hyperhive called only the endpoints the stand-in knows"


def live_swarm(tmp_path: Path, name: str) -> tuple[StateLayout, ForgejoStandIn, Path]:
    """For a real `hive serve`: a state dir under test-artifacts (short enough for the agents'
    sockets) whose meta repo is seeded into a started stand-in, the stand-in's bare repo set as the
    desired-state remote, and a file holding its token (for `hive forge connect`). The caller stops
    the stand-in."""
    layout = StateLayout(REPO_ROOT / "test-artifacts" / f"{name}-{uuid.uuid4().hex[:8]}")
    layout.root.mkdir(parents=True)
    init_meta_repo(layout.meta, TEST_AUTHOR)
    forge = ForgejoStandIn(tmp_path / "forgejo")
    forge.seed(layout.meta)
    forge.start()
    token = tmp_path / "token"
    token.write_text(forge.token)
    run_hive(layout.root, "desired", "remote", "set", str(forge.bare))
    return layout, forge, token
