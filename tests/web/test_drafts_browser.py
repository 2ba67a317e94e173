"""A manager's draft shows on the dashboard as one card: the new agent, its seed files, every diff;
"drop draft" denies it and removes its branch.

Real: the dashboard in Chromium, a real host core whose manager ``draft_agent`` handler records the
draft in a real meta repo. No harness runs (the draft is the manager's op called on the host).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from desired import proposals
from desired.proposals import drafted
from desired.repo import MetaRepo
from hive_core.core import HostCore
from hive_core.ops import perform
from hive_kit import wire
from tests.web.conftest import open_dashboard, screenshot, serve

pytestmark = pytest.mark.slow

BRIEF = "# Brief\nCount the gophers in the east garden.\n"


def test_a_draft_card_names_the_agent_and_its_seed_files_and_can_be_dropped(
    layout: Any, server_loop: Any, page: Any
) -> None:
    core: HostCore = asyncio.run_coroutine_threadsafe(_core(layout), server_loop).result(10)
    served = serve(layout, server_loop)
    try:
        draft = wire.DraftAgent(
            name="scout",
            description="the garden needs a gopher census",
            config={"model": "haiku", "allowed_recipients": ["manager"]},
            files={"brief.md": BRIEF, "notes/sources.md": "- east garden\n"},
        )
        served.call(lambda: perform(core, core.manager_caller(), draft))
        open_dashboard(page, served, "/#decisions")
        card = page.locator("article.card.draft")
        card.wait_for()
        line = card.locator(".draft-line").inner_text()
        assert "new agent scout" in line and "/state/brief.md" in line and "/state/notes/sources.md" in line
        body = card.inner_text()
        assert "Count the gophers in the east garden." in body, "the brief itself is in the diff"
        assert "agents/scout.json" in body and "agents/scout/seed/brief.md" in body
        screenshot(page, "drafts")

        card.locator("input[name=note]").fill("not this season")
        card.locator("[data-deny]", has_text="drop draft").click()
        page.locator("#approvals-body", has_text="no pending proposals").wait_for()
        repo = MetaRepo(layout.meta)
        (dropped,) = proposals.list_all(repo)
        assert dropped.status is proposals.ProposalStatus.DENIED and dropped.resolution is not None
        assert dropped.resolution.note == "not this season"
        assert repo.head(f"refs/heads/proposals/{dropped.id}") is None, "the draft's branch is gone"
        assert "scout" not in repo.load().state.agents
    finally:
        served.close()
        server_loop.call_soon_threadsafe(core.close)


def test_drafted_reads_new_agents_and_seeds_from_a_diff_only() -> None:
    diff = (
        "diff --git a/agents/coder.json b/agents/coder.json\nindex 1..2 100644\n--- a/agents/coder.json\n"
        "+++ b/agents/coder.json\n@@ -1 +1 @@\n-{}\n+{ }\n"
        "diff --git a/agents/scout.json b/agents/scout.json\nnew file mode 100644\n--- /dev/null\n"
        "+++ b/agents/scout.json\n@@ -0,0 +1 @@\n+diff --git a/agents/evil.json b/agents/evil.json\n"
        "diff --git a/agents/scout/seed/brief.md b/agents/scout/seed/brief.md\nnew file mode 100644\n"
    )
    assert drafted(diff) == [{"name": "scout", "seeds": ["brief.md"]}]


async def _core(layout: Any) -> HostCore:
    core = HostCore(layout)
    core.desired.refresh()
    return core
