"""The manager reads before it proposes: real harness, real claude CLI, real MCP server, real daemon.

The model is the one stand-in (``tests/seams/scripted_api.py``): its replies are scripted, so the
test knows what it will propose, and checks what our tools handed it and what the operator gets.
The harness runs unsandboxed here, so ``HIVE_META`` points its clone at the meta repo itself
(in a sandbox it is the read-only view at /meta.git: tests/security/test_manager_clone.py).
"""

from __future__ import annotations

from desired import proposals
from desired.changes import set_agent_nix
from desired.repo import MetaRepo
from hive_kit.wire import Send
from tests.harness.conftest import OPERATOR, needs_claude
from tests.seams.scripted_api import Reply, ScriptedAPI, ToolUse, text, tool

pytestmark = needs_claude

NIX = "{ pkgs, ... }: {\n  environment.systemPackages = [ pkgs.ripgrep ];\n}\n"
EDITED = NIX.replace("pkgs.ripgrep ]", "pkgs.ripgrep pkgs.jq ]")


def changed(diff: str) -> list[str]:
    return [ln for ln in diff.splitlines() if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]


async def test_a_manager_turn_reads_the_swarm_then_proposes_a_minimal_agent_nix_edit(
    hive, harness, api: ScriptedAPI
) -> None:
    repo = MetaRepo(hive.layout.meta)
    repo.commit(lambda s: set_agent_nix(s, "bob", NIX), author=OPERATOR, message="bob gets ripgrep")
    boss = await harness("boss", role="manager", env=api.env())
    await boss.wait_turns(1)
    api.push(
        tool("mcp__hyperhive__list_agents"),
        Reply(blocks=(ToolUse("mcp__hyperhive__get_agent", {"name": "bob"}),)),
        tool(
            "mcp__hyperhive__propose",
            ops=[{"op": "set_agent_nix", "name": "bob", "text": EDITED}],
            description="bob needs jq for the JSON work",
        ),
        text("proposed"),
    )
    await hive.client("operator").request(Send(to="manager", body="bob needs jq"))
    rows = await boss.wait_turns(2)
    assert rows[1]["result_kind"] == "ok"

    requests = api.main_requests()
    listed = requests[-3].tool_results()
    assert any('"name": "bob"' in r and '"name": "alice"' in r for r in listed), listed
    read = requests[-2].tool_results()
    assert any("pkgs.ripgrep" in r and '"agent_nix"' in r for r in read), read
    (pending,) = proposals.pending(repo)
    assert pending.author.startswith("boss <")
    assert changed(proposals.diff(repo, pending)) == [
        "-  environment.systemPackages = [ pkgs.ripgrep ];",
        "+  environment.systemPackages = [ pkgs.ripgrep pkgs.jq ];",
    ]


async def test_a_manager_turn_commits_in_its_clone_and_proposes_the_commit(
    hive, harness, api: ScriptedAPI
) -> None:
    repo = MetaRepo(hive.layout.meta)
    boss = await harness("boss", role="manager", env={**api.env(), "HIVE_META": str(hive.layout.meta)})
    await boss.wait_turns(1)
    assert (boss.state / "meta" / "agents" / "bob.json").exists(), "cloned before the first turn"
    edit = (
        "cd meta && git fetch -q origin && git checkout -q -B work origin/main && "
        "mkdir -p agents/bob && printf '{ ... }: { }\\n' > agents/bob/agent.nix && "
        "git add -A && git commit -qm 'bob gets an agent.nix'"
    )
    broken = (
        # claude's Bash keeps its working directory between calls: still in meta/
        "git checkout -q -B broken origin/main && "
        'sed -i \'s/"allowed_recipients": \\[/"allowed_recipients": 7, "x": [/\' agents/alice.json && '
        "git commit -qam 'break alice'"
    )
    api.push(
        tool("Bash", command=edit, description="edit bob in my clone"),
        tool("mcp__hyperhive__propose_commit", ref="work", description="bob gets an empty agent.nix"),
        tool("Bash", command=broken, description="a bad edit"),
        tool("mcp__hyperhive__propose_commit", ref="broken", description="this one is invalid"),
        text("done"),
    )
    await hive.client("operator").request(Send(to="manager", body="give bob an agent.nix"))
    rows = await boss.wait_turns(2, timeout=120)
    assert rows[1]["result_kind"] == "ok"

    results = [r for request in api.main_requests() for r in request.tool_results()]
    assert any(r.startswith("proposal #1 recorded") for r in results), results
    refusal = " ".join(r for r in results if "this one is invalid" in r or "refused" in r)
    assert "refused" in refusal and "agents/alice.json" in refusal and "fix" in refusal.lower(), refusal
    (pending,) = proposals.pending(repo)
    assert pending.description == "bob gets an empty agent.nix"
    assert changed(proposals.diff(repo, pending)) == ["+{ ... }: { }"]
