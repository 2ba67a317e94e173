"""Per-agent settings go one way: desired-state JSON → the hyperhive.* options, never back.

The hyperhive.* options of an agent's container (reconciler/nix/harness-base.nix)
are read-only views of its launch config. An agent.nix may read them and
extend the container; setting one fails the build with the JSON field to
change instead. The pre-receive hook refuses such an agent.nix first, from its
text (desired/agentnix.py), with the same table of fields, compared here.

There is no nixpkgs here: the container module is evaluated by the real
`nix-instantiate` against the stand-in `lib` and module evaluator
(tests/seams/nixlib.nix), which implements option priorities the way
nixpkgs' lib/modules.nix does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer

from desired.agentnix import SOURCES, check_agent_nix
from desired.schema import AgentSpec, DesiredState, McpServer, SwarmSettings, agent_fingerprint
from hive_harness.cli import app as harness_app
from hive_kit.names import Role
from reconciler.act import launch_config
from reconciler.nixrender import NIX_TEMPLATES
from tests.seams.nixeval import NixError, eval_agent

OVERRIDES = {
    "configFile": '"/etc/other.json"',
    "name": '"boss"',
    "role": '"manager"',
    "model": '"haiku"',
    "operatorPronouns": '"he/him"',
    "allowedRecipients": '[ "manager" ]',
    "extraMcpServers": '{ evil = { command = "nc"; }; }',
    "uid": "0",
    "package": "pkgs.git",
    "claudePackage": "pkgs.git",
}


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    desired = DesiredState(
        settings=SwarmSettings(operator_pronouns="she/her"),
        agents={
            "manager": AgentSpec(name="manager", role=Role.MANAGER),
            "coder": AgentSpec(
                name="coder",
                model="opus",
                allowed_recipients=("manager", "operator"),
                extra_mcp_servers={"gh": McpServer(command="gh-mcp", args=("--ro",))},
            ),
        },
    )
    launch = launch_config(desired, "coder", "r" * 40, agent_fingerprint(desired, "coder"))
    path = tmp_path / "agent.json"
    launch.model_copy(update={"uid": 60101}).write(path)
    return path


def build(config_file: Path, *agent_nix: str, select: str = "config.hyperhive") -> Any:
    """What `nixos-container create` would evaluate: the toplevel, assertions checked."""
    return eval_agent(NIX_TEMPLATES, config_file, agent_nix, select, checked=True)


def test_every_hyperhive_option_is_covered_by_both_checks(config_file: Path) -> None:
    options = build(config_file, select="builtins.attrNames options.hyperhive")
    assert sorted(options) == sorted(SOURCES) == sorted(OVERRIDES)


def test_the_options_show_the_json(config_file: Path) -> None:
    values = build(config_file)
    assert values["name"] == "coder" and values["role"] == "agent" and values["model"] == "opus"
    assert values["operatorPronouns"] == "she/her"
    assert values["allowedRecipients"] == ["manager", "operator"]
    assert values["extraMcpServers"] == {
        "gh": {"command": "gh-mcp", "args": ["--ro"], "env": {}, "allowedTools": ["*"]}
    }
    assert values["uid"] == 60101
    assert values["configFile"] == str(config_file)


def test_an_agent_nix_that_extends_the_container_builds(config_file: Path) -> None:
    agent_nix = """{ config, pkgs, ... }: {
      environment.systemPackages = [ pkgs.git ];
      networking.firewall.enable = false;
      environment.etc."motd".text = "agent ${config.hyperhive.name} runs ${config.hyperhive.model}";
    }"""
    values = build(config_file, agent_nix, select="{ inherit (config) environment hyperhive; }")
    assert values["environment"]["etc"]["motd"]["text"] == "agent coder runs opus"
    assert values["environment"]["systemPackages"][0].endswith("-git")
    assert values["hyperhive"]["model"] == "opus"


@pytest.mark.parametrize(
    ("option", "how"),
    [(option, "plain") for option in sorted(OVERRIDES)] + [("model", "mkDefault"), ("uid", "mkForce")],
)
def test_setting_a_hyperhive_option_fails_the_build_naming_its_source(
    config_file: Path, option: str, how: str
) -> None:
    value = OVERRIDES[option] if how == "plain" else f"(lib.{how} {OVERRIDES[option]})"
    agent_nix = f"{{ lib, pkgs, ... }}: {{ hyperhive.{option} = {value}; }}"
    with pytest.raises(NixError, match="Failed assertions") as caught:
        build(config_file, agent_nix)
    origin = SOURCES[option].origin.format(name="coder")
    fix = SOURCES[option].fix.format(name="coder")
    assert f"hyperhive.{option} is set from {origin}; change it there ({fix})" in str(caught.value)
    # The hook says the same, from the text, before anything is built.
    problems = list(check_agent_nix("agents/coder/agent.nix", "coder", agent_nix))
    assert len(problems) == 1 and origin in problems[0].message and fix in problems[0].fix


def test_the_json_field_is_named(config_file: Path) -> None:
    with pytest.raises(NixError) as caught:
        build(config_file, '{ hyperhive.model = "haiku"; }')
    assert "agents/coder.json `model`; change it there (hive agent set coder model opus)" in str(caught.value)


def test_a_definition_that_loses_to_the_default_changes_nothing(config_file: Path) -> None:
    assert (
        build(config_file, '{ lib, ... }: { hyperhive.model = lib.mkOverride 2000 "haiku"; }')["model"]
        == "opus"
    )


def test_the_harness_command_is_one_hive_harness_accepts(config_file: Path) -> None:
    unit = build(config_file, select="config.systemd.services.hive-harness")
    program, *args = unit["serviceConfig"]["ExecStart"].split()
    assert program.endswith("/bin/hive-harness")
    command = typer.main.get_command(harness_app)
    assert isinstance(command, typer.core.TyperGroup)
    params = command.commands[args[0]].make_context(args[0], args[1:]).params
    assert params["role"] == Role.AGENT
    assert unit["environment"]["HIVE_CLAUDE_BIN"].endswith("-claude-code/bin/claude")
    assert json.loads(config_file.read_text())["role"] == "agent"
