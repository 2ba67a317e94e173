"""`propose_commit`: a real commit in a real clone of the meta repo becomes a proposal with exactly its diff.

The clone is made and bundled by the harness's own code (``hive_harness.metaclone``), run here by
the test outside a sandbox, pointed at the meta repo through ``HIVE_META`` as the manager's sandbox
points it at its read-only view (the sandboxed path is tests/security/test_manager_clone.py's).
The bundle travels through the real MCP tool and the manager's real socket to a real daemon.
"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest

from desired import proposals
from desired.repo import MetaRepo
from hive_harness import metaclone
from hive_harness.mcp_server import build_server
from hive_kit import wire
from hive_kit.client import HiveClient
from hive_kit.errors import UserError
from hive_kit.launch import AgentLaunchConfig
from hive_kit.names import ProposalId
from tests.core.conftest import Running

BOSS = AgentLaunchConfig(name="boss", role="manager", model="haiku")


def git(clone: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=clone, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def clone(daemon: Running, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path / "boss-state"
    state.mkdir()
    monkeypatch.setenv("HIVE_META", str(daemon.layout.meta))
    monkeypatch.setenv("HIVE_AGENT_STATE", str(state))
    assert metaclone.refresh("boss") is None
    path = state / "meta"
    assert (path / "agents" / "coder.json").exists()
    return path


async def propose_commit(daemon: Running, description: str = "because") -> str:
    client = HiveClient(daemon.layout.manager_socket)
    try:
        server = build_server(BOSS, client)
        result = await server.call_tool("propose_commit", {"description": description})
        return "".join(getattr(c, "text", "") for c in result.content)  # type: ignore[union-attr]
    finally:
        await client.aclose()


def changed_lines(diff: str) -> list[str]:
    return [line for line in diff.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))]


async def test_a_commit_becomes_a_proposal_with_exactly_its_diff(daemon: Running, clone: Path) -> None:
    spec = json.loads((clone / "agents" / "coder.json").read_text())
    spec["description"] = "writes the code, with ripgrep"
    (clone / "agents" / "coder.json").write_text(json.dumps(spec, indent=2) + "\n")
    (clone / "agents" / "coder").mkdir()
    (clone / "agents" / "coder" / "agent.nix").write_text(
        "{ pkgs, ... }: {\n  environment.systemPackages = [ pkgs.ripgrep ];\n}\n"
    )
    git(clone, "add", "-A")
    git(clone, "commit", "-qm", "coder gets ripgrep")
    text = await propose_commit(daemon, "coder needs ripgrep")
    assert text.startswith("proposal #"), text
    pid = ProposalId(int(text.split("#")[1].split()[0]))
    repo = MetaRepo(daemon.layout.meta)
    found = proposals.get(repo, pid)
    assert found.author.startswith("boss <") and found.description == "coder needs ripgrep"
    theirs = git(clone, "diff", "origin/main", "HEAD")
    assert changed_lines(proposals.diff(repo, found)) == changed_lines(theirs)
    assert (
        repo.files_at(found.commit)["agents/coder/agent.nix"]
        == (clone / "agents" / "coder" / "agent.nix").read_bytes()
    )
    assert proposals.proposed_state(repo, found).agents["coder"].description.endswith("ripgrep")


async def test_an_invalid_commit_is_refused_with_file_field_and_fix(daemon: Running, clone: Path) -> None:
    spec = json.loads((clone / "agents" / "coder.json").read_text())
    spec["allowed_recipients"] = "everyone"
    (clone / "agents" / "coder.json").write_text(json.dumps(spec, indent=2) + "\n")
    git(clone, "commit", "-qam", "broken")
    text = await propose_commit(daemon)
    assert text.startswith("refused"), text
    assert "agents/coder.json" in text and "allowed_recipients" in text and "fix" in text.lower(), text
    assert proposals.list_all(MetaRepo(daemon.layout.meta)) == []


async def test_the_manager_may_not_remove_itself_or_touch_the_hosts_guard(
    daemon: Running, clone: Path
) -> None:
    git(clone, "rm", "-q", "agents/boss.json")
    git(clone, "commit", "-qm", "bye")
    text = await propose_commit(daemon)
    assert "agents/boss.json: your commit removes you (boss)" in text and "git checkout" in text, text

    git(clone, "reset", "-q", "--hard", "origin/main")
    settings = json.loads((clone / "hive.json").read_text())
    settings["allow_destroy_all"] = True
    (clone / "hive.json").write_text(json.dumps(settings, indent=2) + "\n")
    git(clone, "commit", "-qam", "let me")
    text = await propose_commit(daemon)
    assert "hive.json" in text and "`allow_destroy_all`" in text and "operator" in text, text

    git(clone, "reset", "-q", "--hard", "origin/main")
    spec = json.loads((clone / "agents" / "boss.json").read_text())
    spec["state"] = "stopped"
    (clone / "agents" / "boss.json").write_text(json.dumps(spec, indent=2) + "\n")
    git(clone, "commit", "-qam", "nap")
    text = await propose_commit(daemon)
    assert "agents/boss.json `state`: you (boss) may not change your own state" in text, text
    assert proposals.list_all(MetaRepo(daemon.layout.meta)) == []


async def test_bundles_that_do_not_connect_or_are_garbage_are_refused_cleanly(
    daemon: Running, clone: Path, tmp_path: Path
) -> None:
    boss = daemon.client("boss")

    async def send(data: bytes) -> str:
        with pytest.raises(UserError) as caught:
            await boss.request(wire.ProposeCommit(bundle=base64.b64encode(data).decode(), description="x"))
        return str(caught.value)

    assert "not a git bundle" in await send(b"# v2 git bundle\nnonsense\n")
    assert "not a git bundle" in await send(b"\x00" * 100)
    with pytest.raises(UserError, match="not base64"):
        await boss.request(wire.ProposeCommit(bundle="%%%not base64%%%", description="x"))

    # history of its own: a repo that never saw the swarm's main
    other = tmp_path / "other"
    other.mkdir()
    git(other, "init", "-q")
    (other / "hive.json").write_text("{}\n")
    git(other, "add", "-A")
    git(other, "-c", "user.name=x", "-c", "user.email=x@x", "commit", "-qm", "unrelated")
    git(other, "bundle", "create", "-q", str(tmp_path / "other.bundle"), "HEAD")
    assert "shares no history" in await send((tmp_path / "other.bundle").read_bytes())

    # a commit on top of another commit the host never saw
    (clone / "README.md").write_text("one\n")
    git(clone, "add", "-A")
    git(clone, "commit", "-qm", "one")
    (clone / "README.md").write_text("two\n")
    git(clone, "commit", "-qam", "two")
    git(clone, "bundle", "create", "-q", str(tmp_path / "gap.bundle"), "HEAD", "^HEAD~1")
    assert "does not build on" in await send((tmp_path / "gap.bundle").read_bytes())
    assert proposals.list_all(MetaRepo(daemon.layout.meta)) == []


async def test_a_clone_with_nothing_new_says_so(daemon: Running, clone: Path) -> None:
    text = await propose_commit(daemon)
    assert text.startswith("refused") and "commit your edit first" in text, text


async def test_a_file_that_inflates_past_the_cap_is_refused_before_it_is_read(
    daemon: Running, clone: Path
) -> None:
    """2 MiB of zeros compress to a few KiB: the bundle is small, the file is not."""
    (clone / "README.md").write_bytes(b"\0" * (2 * 1024 * 1024))
    git(clone, "add", "-A")
    git(clone, "commit", "-qm", "big")
    text = await propose_commit(daemon)
    assert "README.md is 2097152 bytes in your commit" in text and "1048576-byte limit" in text, text


async def test_a_submodule_entry_is_refused_as_not_a_file(daemon: Running, clone: Path) -> None:
    sha = git(clone, "rev-parse", "HEAD").strip()
    git(clone, "update-index", "--add", "--cacheinfo", f"160000,{sha},agents/sub")
    git(clone, "commit", "-qm", "a gitlink")
    text = await propose_commit(daemon)
    assert "agents/sub is not a plain file" in text, text


async def test_agents_a_commit_adds_count_against_max_spawns_per_day_and_the_caps_are_the_operators(
    daemon: Running, clone: Path
) -> None:
    from desired.changes import set_setting
    from tests.core.conftest import OPERATOR

    meta = MetaRepo(daemon.layout.meta)
    meta.commit(lambda s: set_setting(s, "max_spawns_per_day", 1), author=OPERATOR, message="cap")
    daemon.daemon.core.desired.refresh()
    git(clone, "fetch", "-q", "origin")
    git(clone, "reset", "-q", "--hard", "origin/main")
    for name in ("writer", "reader"):
        (clone / "agents" / f"{name}.json").write_text(json.dumps({"name": name}) + "\n")
    git(clone, "add", "-A")
    git(clone, "commit", "-qm", "two at once")
    text = await propose_commit(daemon)
    assert "max_spawns_per_day is 1 and 0 spawn(s) were requested today (UTC); this asks for 2" in text, text
    assert "00:00 UTC" in text and proposals.list_all(meta) == []

    git(clone, "reset", "-q", "--hard", "origin/main")
    settings = json.loads((clone / "hive.json").read_text())
    settings["max_spawns_per_day"] = 50
    (clone / "hive.json").write_text(json.dumps(settings, indent=2) + "\n")
    git(clone, "commit", "-qam", "more for me")
    text = await propose_commit(daemon)
    assert "`max_spawns_per_day` is the operator's guard" in text, text
