"""Nix rendering: every shipped and rendered file parses, its inputs are pinned, and Nix reads the
same values Python wrote.

Uses the real `nix-instantiate` (`--parse`, `--eval --strict`). There is no
nixpkgs here: modules that need `lib` are evaluated against the stand-in in
tests/nixos/ (tests/seams/nixlib.nix); here they are parsed, and the
JSON-reading part (reconciler/nix/agent-json.nix) is evaluated for real.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from desired.schema import AgentSpec, DesiredState, McpServer, SwarmSettings, agent_fingerprint
from hive_kit.names import Role
from reconciler.act import launch_config
from reconciler.nixrender import FlakeInputs, nix_string, pin_problem, render_flake, write_flake
from tests.reconciler.conftest import REPO_ROOT

NIX_FILES = [
    REPO_ROOT / "flake.nix",
    *sorted([*(REPO_ROOT / "nix").rglob("*.nix"), *(REPO_ROOT / "reconciler" / "nix").rglob("*.nix")]),
]
STORE = "/nix/store/" + "a" * 32
INPUTS = FlakeInputs(
    hyperhive=f"path:{STORE}-hyperhive-source", nixpkgs=f"path:{STORE[:-1]}b-source", system="aarch64-linux"
)


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
    files = render_flake(desired, "r" * 40, configs(desired), INPUTS)
    changed = write_flake(tmp_path, files)
    assert "flake.nix" in changed and "agents/coder/agent.nix" in changed
    for rel in files:
        if rel.endswith(".nix"):
            nix("--parse", str(tmp_path / rel))
    flake = (tmp_path / "flake.nix").read_text()
    assert '"coder" = agent ./agents/coder/agent.json' in flake
    assert '"manager" = agent ./agents/manager/agent.json' in flake
    assert "./agents/coder/agent.nix" in flake and "./agents/manager/agent.nix" not in flake
    assert write_flake(tmp_path, files) == [], "unchanged files are not rewritten"
    (tmp_path / "flake.lock").write_text("{}")  # what Nix writes on the first build
    del files["agents/coder/agent.nix"]
    assert write_flake(tmp_path, files) == ["agents/coder/agent.nix"]
    assert (tmp_path / "flake.lock").exists(), "the lock stays: re-locking would hash nixpkgs again"


def swarm(size: int, *, with_nix: bool) -> DesiredState:
    """A manager and ``size - 1`` agents; with_nix: every other agent has an agent.nix."""
    agents = {"manager": AgentSpec(name="manager", role=Role.MANAGER)}
    agents |= {f"a{i}": AgentSpec(name=f"a{i}", model="sonnet") for i in range(1, size)}
    nix = {"manager": "{ ... }: { services.openssh.enable = false; }\n"} if with_nix else {}
    nix |= {name: "{ pkgs, ... }: { environment.systemPackages = [ pkgs.ripgrep ]; }\n" for name in
            list(agents)[1::2] if with_nix}  # fmt: skip
    return DesiredState(settings=SwarmSettings(), agents=agents, agent_nix=nix)


def flake_inputs(flake: Path) -> dict[str, str]:
    """Each `inputs.<name>.url` of a flake, as Nix reads it."""
    expr = f"(import (/. + {nix_string(flake)})).inputs"
    return {k: v["url"] for k, v in json.loads(nix("--eval", "--strict", "--json", "-E", expr)).items()}


@pytest.mark.parametrize("with_nix", [False, True], ids=["json-only", "with-agent-nix"])
@pytest.mark.parametrize("size", [1, 3, 30])
def test_every_meta_flake_parses_and_pins_the_hosts_inputs(tmp_path: Path, size: int, with_nix: bool) -> None:
    desired = swarm(size, with_nix=with_nix)
    cfgs = {name: json.dumps({"name": name}) for name in desired.agents}
    files = render_flake(desired, "r" * 40, cfgs, INPUTS)
    write_flake(tmp_path, files)
    for rel in files:
        if rel.endswith(".nix"):
            nix("--parse", str(tmp_path / rel))
    text = files["flake.nix"]
    assert text.count("= agent ./agents/") == size
    assert text.count("/agent.nix\n") == len(desired.agent_nix)
    urls = flake_inputs(tmp_path / "flake.nix")
    assert urls == {"nixpkgs": INPUTS.nixpkgs, "hyperhive": INPUTS.hyperhive}, "exactly the host's pins"
    assert all(pin_problem(url) is None and url.startswith("path:/nix/store/") for url in urls.values())
    assert 'inputs.hyperhive.inputs.nixpkgs.follows = "nixpkgs";' in text
    assert 'system = "aarch64-linux";' in text
    assert "github:" not in text, "no input needs a forge"


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
