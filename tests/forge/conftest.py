"""Fixtures for the Forgejo tests: a meta repo, and the Forgejo stand-in seeded from it.

The stand-in (``tests/seams/forgejo.py``) replaces a Forgejo server, which
cannot run here; everything else in these tests is real.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from desired.bootstrap import init_meta_repo
from hive_kit.paths import StateLayout
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
