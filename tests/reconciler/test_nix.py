"""Nix rendering: every rendered file parses, and Nix reads the same values Python wrote.

Uses the real `nix-instantiate` (`--parse`, `--eval --strict`); there is no
nixpkgs here, so modules that need `lib` are parsed, and the JSON-reading
part (reconciler/nix/agent-json.nix) is evaluated for real.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from desired.schema import AgentSpec, DesiredState, McpServer, SwarmSettings, agent_fingerprint
from hive_kit.names import Role
from reconciler.act import launch_config
from reconciler.nixrender import nix_string, render_flake, write_flake
from tests.reconciler.conftest import REPO_ROOT

NIX_FILES = sorted([*(REPO_ROOT / "nix").rglob("*.nix"), *(REPO_ROOT / "reconciler" / "nix").rglob("*.nix")])


def nix(*args: str) -> str:
    done = subprocess.run(["nix-instantiate", *args], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def state() -> DesiredState:
    return DesiredState(
        settings=SwarmSettings(operator_pronouns="she/her"),
        agents={
            "manager": AgentSpec(name="manager", role=Role.MANAGER),
            "coder": AgentSpec(
                name="coder",
                model="opus",
                description='writes "code" for ${HOME}',
                allowed_recipients=("manager", "operator"),
                extra_mcp_servers={"gh": McpServer(command="gh-mcp", args=("--ro",), env={"A": "1"})},
            ),
        },
        agent_nix={"coder": "{ pkgs, ... }: { environment.systemPackages = [ pkgs.git ]; }\n"},
    )


UIDS = {"manager": 60100, "coder": 60101}


def configs(desired: DesiredState) -> dict[str, str]:
    out = {}
    for name in desired.agents:
        cfg = launch_config(desired, name, "r" * 40, agent_fingerprint(desired, name))
        cfg = cfg.model_copy(update={"uid": UIDS[name]})
        out[name] = json.dumps(cfg.model_dump(mode="json"))
    return out


@pytest.mark.parametrize("path", NIX_FILES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_shipped_nix_files_parse(path: Path) -> None:
    nix("--parse", str(path))


def test_rendered_flake_dir_parses_and_lists_every_agent(tmp_path: Path) -> None:
    desired = state()
    files = render_flake(desired, "r" * 40, configs(desired))
    changed = write_flake(tmp_path, files)
    assert "flake.nix" in changed and "agents/coder/agent.nix" in changed
    for rel in files:
        if rel.endswith(".nix"):
            nix("--parse", str(tmp_path / rel))
    flake = (tmp_path / "flake.nix").read_text()
    assert '"coder" = nixpkgs.lib.nixosSystem' in flake and '"manager" = nixpkgs.lib.nixosSystem' in flake
    assert "./agents/coder/agent.nix" in flake and "./agents/manager/agent.nix" not in flake
    assert write_flake(tmp_path, files) == [], "unchanged files are not rewritten"
    del files["agents/coder/agent.nix"]
    assert write_flake(tmp_path, files) == ["agents/coder/agent.nix"]


def test_nix_reads_the_agent_json_exactly_as_python_wrote_it(tmp_path: Path) -> None:
    desired = state()
    path = tmp_path / "agent.json"
    path.write_text(configs(desired)["coder"])
    expr = f"import {REPO_ROOT / 'reconciler/nix/agent-json.nix'} {path}"
    values = json.loads(nix("--eval", "--strict", "--json", "-E", expr))
    assert values == {
        "name": "coder",
        "role": "agent",
        "model": "opus",
        "description": 'writes "code" for ${HOME}',
        "operatorPronouns": "she/her",
        "allowedRecipients": ["manager", "operator"],
        "extraMcpServers": {
            "gh": {"command": "gh-mcp", "args": ["--ro"], "env": {"A": "1"}, "allowedTools": ["*"]}
        },
        "uid": 60101,
        "revision": "r" * 40,
    }


def test_a_launch_config_without_a_uid_reads_as_null(tmp_path: Path) -> None:
    path = tmp_path / "agent.json"
    path.write_text(json.dumps({"name": "x", "role": "agent", "model": "opus"}))
    expr = f"(import {REPO_ROOT / 'reconciler/nix/agent-json.nix'} {path}).uid"
    assert json.loads(nix("--eval", "--strict", "--json", "-E", expr)) is None


@pytest.mark.parametrize("text", ["plain", 'with "quotes"', "dollar ${x} and \\ backslash", "new\nline"])
def test_nix_string_round_trips(text: str) -> None:
    assert json.loads(nix("--eval", "--json", "-E", nix_string(text))) == text
