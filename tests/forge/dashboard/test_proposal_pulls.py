"""The proposals view links each proposal to its Forgejo pull request and shows its checks, in Chromium.

The Forgejo stand-in (``tests/seams/forgejo.py``) replaces a Forgejo server,
which cannot run here; the dashboard, the webhook, the sender and the meta
repo are real. The host's proposal watch is stood in for by its event.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from hive_kit.paths import StateLayout
from tests.forge.test_checks import Hooked, make_hooked
from tests.forge.test_pulls import opened, propose
from tests.seams.forgejo import ForgejoStandIn
from tests.web.conftest import open_dashboard, screenshot


@pytest.fixture
def paged(
    layout: StateLayout, forge: ForgejoStandIn, server_loop: asyncio.AbstractEventLoop
) -> Iterator[Hooked]:
    made = make_hooked(layout, forge, server_loop, None)
    yield made
    made.served.close()


def test_a_pending_proposal_links_to_its_pull_request_and_checks(paged: Hooked, page: Any) -> None:
    pid = propose(paged)
    number = opened(paged, pid)
    assert paged.send("pull_request", paged.forge.pull_payload(number, "opened")).status == 202

    open_dashboard(page, paged.served, "/#decisions")
    page.wait_for_selector("#live[data-state=live]")
    line = page.locator(f'article[data-proposal="{pid}"] .forge-pr')
    line.locator("a", has_text=f"PR #{number}").wait_for()
    assert line.locator("a", has_text=f"PR #{number}").get_attribute("href").endswith(f"/pulls/{number}")
    line.locator(".pill", has_text="validate: success").wait_for()
    plan = line.locator(".pill", has_text="plan: success")
    assert "/forge/reports/p-" in (plan.get_attribute("href") or "")
    assert "to create" in (plan.get_attribute("title") or "")
    page.locator(f'article[data-proposal="{pid}"]').scroll_into_view_if_needed()
    screenshot(page, "proposal-pull-request")
