"""The dashboard's "Forgejo API calls" table, live, in Chromium.

The Forgejo stand-in (``tests/seams/forgejo.py``) replaces a Forgejo server,
which cannot run here; the dashboard, its webhook and the sender are real.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from hive_kit.paths import StateLayout
from tests.forge.test_checks import Hooked, make_hooked
from tests.seams.forgejo import ForgejoStandIn
from tests.web.conftest import open_dashboard, screenshot
from tests.web.test_webhook import CODER


@pytest.fixture
def paged(
    layout: StateLayout, forge: ForgejoStandIn, server_loop: asyncio.AbstractEventLoop
) -> Iterator[Hooked]:
    """``hooked`` without the operator seam, which the page's snapshot cannot use (no host core)."""
    made = make_hooked(layout, forge, server_loop, None)
    yield made
    made.served.close()


def test_the_dashboard_shows_each_api_call_live(paged: Hooked, page: Any) -> None:
    hooked, forge = paged, paged.forge
    open_dashboard(page, hooked.served, "/#desired")
    page.wait_for_selector("#live[data-state=live]")
    page.locator("#forge-calls-table td.empty").wait_for()
    assert "ops/swarm" in page.inner_text("#forge-summary")

    sha, reply = hooked.push("add-coder", "agents/coder.json", CODER, delivery="d-branch")
    assert reply.status == 202
    page.locator("#hooks-table tr[data-delivery=d-branch] .pill", has_text="checked").wait_for()
    sent = page.locator(f'#forge-calls-table tr[data-call="status:{sha}:hive/plan"]')
    sent.locator(".pill", has_text="sent").wait_for()
    assert "hive/plan success" in sent.inner_text()

    forge.stop()
    try:
        broken, _ = hooked.push("typo", "agents/coder.json", json.dumps({"name": "coder", "modle": "x"}))
        failed = page.locator(f'#forge-calls-table tr[data-call="status:{broken}:hive/validate"]').first
        failed.locator(".pill", has_text="failed").wait_for()
        assert "cannot reach Forgejo" in failed.inner_text()
        page.locator("#forge-calls-table").scroll_into_view_if_needed()
        screenshot(page, "forge-calls")
    finally:
        forge.start()
    page.reload()
    page.wait_for_selector("#live[data-state=live]")
    page.locator(f'#forge-calls-table tr[data-call="status:{sha}:hive/plan"]').wait_for()
