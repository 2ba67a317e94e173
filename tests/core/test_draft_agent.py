"""Two-step spawn: the manager drafts a new agent whole (JSON, agent.nix, seed files) as one proposal.

Real: the daemon on its real unix sockets, the meta repo, the harness's own MCP server
(``build_server``) and its clone/bundle code for ``propose_commit``. Hostile cases: an ordinary
agent's socket and MCP surface have no draft; a seed escaping /state, a dotfile, a symlink and an
oversize file are refused naming the path, and nothing is recorded or counted.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from desired import proposals
from desired.changes import set_setting
from desired.repo import MetaRepo
from desired.seeds import MAX_SEED_FILE_BYTES
from hive_harness import metaclone
from hive_harness.mcp_server import build_server
from hive_kit import wire
from hive_kit.client import HiveClient
from hive_kit.errors import ForbiddenError
from hive_kit.launch import AgentLaunchConfig
from tests.core.conftest import OPERATOR, Running

BOSS = AgentLaunchConfig(name="boss", role="manager", model="haiku")
BRIEF = "# Brief\nYou parse the nightly logs and report anomalies to the manager.\n"
NIX = "{ pkgs, ... }: {\n  environment.systemPackages = [ pkgs.jq ];\n}\n"


async def tool(
    daemon: Running, name: str, arguments: dict[str, object], who: AgentLaunchConfig = BOSS
) -> str:
    socket = daemon.layout.manager_socket if who.role == "manager" else daemon.layout.agent_socket(who.name)
    client = HiveClient(socket)
    try:
        result = await build_server(who, client).call_tool(name, arguments)
        return "".join(getattr(c, "text", "") for c in result.content)  # type: ignore[union-attr]
    finally:
        await client.aclose()


def draft(**files: str) -> dict[str, object]:
    return {
        "name": "logs",
        "description": "someone has to read the nightly logs",
        "config": {"model": "haiku", "allowed_recipients": ["manager"]},
        "agent_nix": NIX,
        "files": files or {"brief.md": BRIEF, "notes/sources.md": "- /var/log/app\n"},
    }


async def test_a_draft_is_one_proposal_showing_the_json_the_nix_and_each_seed_file(daemon: Running) -> None:
    text = await tool(daemon, "draft_agent", draft())
    assert text.startswith("proposal #"), text
    repo = MetaRepo(daemon.layout.meta)
    (found,) = proposals.pending(repo)
    assert found.author.startswith("boss <") and found.description.startswith("draft logs: ")
    diff = proposals.diff(repo, found)
    for path in ("agents/logs.json", "agents/logs/agent.nix", "agents/logs/seed/brief.md",
                 "agents/logs/seed/notes/sources.md"):  # fmt: skip
        assert f"+++ b/{path}" in diff, diff
    assert (
        "+You parse the nightly logs" in diff and '+  "model": "haiku",' in diff and "+- /var/log/app" in diff
    )
    assert repo.head() is not None and "logs" not in repo.load().state.agents, (
        "main is untouched until approval"
    )
    assert daemon.daemon.core.spawns.count_since(0) == 1, "a draft counts as a spawn"

    proposals.approve(repo, found.id, by=OPERATOR)
    daemon.daemon.core.desired.refresh()
    detail = await daemon.client("boss").request(wire.GetAgent(name="logs"))
    assert detail.seed_files == ["brief.md", "notes/sources.md"], "the manager reads back what it drafted"


async def test_drafts_count_against_max_spawns_per_day(daemon: Running) -> None:
    repo = MetaRepo(daemon.layout.meta)
    repo.commit(lambda s: set_setting(s, "max_spawns_per_day", 0), author=OPERATOR, message="no spawns")
    daemon.daemon.core.desired.refresh()
    text = await tool(daemon, "draft_agent", draft())
    assert text.startswith("refused (limit):") and "max_spawns_per_day is 0" in text, text
    assert proposals.pending(repo) == []


async def test_an_ordinary_agent_cannot_draft(daemon: Running) -> None:
    tester = daemon.client("tester")
    with pytest.raises(ForbiddenError, match="not available on the agent socket"):
        await tester.request(wire.DraftAgent(name="evil", description="x", files={"brief.md": "hi"}))
    agent = AgentLaunchConfig(name="tester", role="agent", model="haiku")
    client = HiveClient(daemon.layout.agent_socket("tester"))
    try:
        names = {t.name for t in await build_server(agent, client).list_tools()}
    finally:
        await client.aclose()
    assert "draft_agent" not in names and "send" in names
    assert proposals.pending(MetaRepo(daemon.layout.meta)) == []


@pytest.mark.parametrize(
    ("files", "named"),
    [
        ({"../../etc/cron.d/x": "* * * * * root sh"}, "agents/logs/seed/../../etc/cron.d/x"),
        ({"/state/brief.md": BRIEF}, "agents/logs/seed//state/brief.md"),
        ({".claude/settings.json": '{"hooks": {}}'}, "agents/logs/seed/.claude/settings.json"),
        ({"secrets.env": "ANTHROPIC_API_KEY=x"}, "agents/logs/seed/secrets.env"),
        ({"CLAUDE.md": "obey"}, "agents/logs/seed/CLAUDE.md"),
        ({"big.md": "x" * (MAX_SEED_FILE_BYTES + 1)}, "agents/logs/seed/big.md"),
    ],
)
async def test_a_bad_seed_is_refused_naming_its_path_and_nothing_is_recorded(
    daemon: Running, files: dict[str, str], named: str
) -> None:
    text = await tool(daemon, "draft_agent", draft(**files))
    assert text.startswith("refused"), text
    assert named in text and "fix:" in text, text
    assert proposals.pending(MetaRepo(daemon.layout.meta)) == []
    assert daemon.daemon.core.spawns.count_since(0) == 0, "a refused draft takes no spawn"


async def test_an_existing_agent_cannot_be_drafted_over(daemon: Running) -> None:
    text = await tool(daemon, "draft_agent", {**draft(), "name": "coder"})
    assert text.startswith("refused") and "already exists" in text, text
    text = await tool(daemon, "draft_agent", {**draft(), "name": "boss"})
    assert text.startswith("refused") and "boss" in text, text


def git(clone: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=clone, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def clone(daemon: Running, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path / "boss-state"
    state.mkdir()
    monkeypatch.setenv("HIVE_META", str(daemon.layout.meta))
    monkeypatch.setenv("HIVE_AGENT_STATE", str(state))
    assert metaclone.refresh("boss") is None
    return state / "meta"


async def test_a_drafted_commit_with_seeds_becomes_a_proposal_and_counts(
    daemon: Running, clone: Path
) -> None:
    (clone / "agents" / "logs" / "seed").mkdir(parents=True)
    (clone / "agents" / "logs.json").write_text('{"name": "logs", "model": "haiku"}\n')
    (clone / "agents" / "logs" / "seed" / "brief.md").write_text(BRIEF)
    git(clone, "add", "-A")
    git(clone, "commit", "-qm", "draft logs")
    text = await tool(daemon, "propose_commit", {"description": "draft logs by commit"})
    assert text.startswith("proposal #"), text
    repo = MetaRepo(daemon.layout.meta)
    (found,) = proposals.pending(repo)
    assert "+++ b/agents/logs/seed/brief.md" in proposals.diff(repo, found)
    assert daemon.daemon.core.spawns.count_since(0) == 1


async def test_a_commit_with_a_symlinked_seed_is_refused_naming_it(daemon: Running, clone: Path) -> None:
    (clone / "agents" / "coder" / "seed").mkdir(parents=True)
    os.symlink("/etc/shadow", clone / "agents" / "coder" / "seed" / "brief.md")
    git(clone, "add", "-A")
    git(clone, "commit", "-qm", "a linked brief")
    text = await tool(daemon, "propose_commit", {"description": "sneaky"})
    assert text.startswith("refused"), text
    assert "agents/coder/seed/brief.md: $: is a symlink" in text, text
    assert proposals.pending(MetaRepo(daemon.layout.meta)) == []


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"config": {"role": "manager"}}, "agents/logs.json: $.role: a second manager"),
        ({"config": {"modle": "opus"}}, "agents/logs.json: $.modle: unknown field 'modle'"),
        ({"config": {"name": "other"}}, "config.name is 'other' but name is 'logs'"),
        ({"files": {f"n{i}.md": "x" for i in range(65)}}, "refused: the draft is not valid: files"),
        ({"name": "Bad Name"}, "not a valid name"),
    ],
)
async def test_a_bad_draft_config_is_refused_with_the_field(
    daemon: Running, change: dict[str, object], named: str
) -> None:
    text = await tool(daemon, "draft_agent", {**draft(), **change})
    assert text.startswith("refused") and named in text, text
    assert proposals.pending(MetaRepo(daemon.layout.meta)) == []
