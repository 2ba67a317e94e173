"""An agent.nix may extend its container but not set the hyperhive.* options (views of its JSON).

The pre-receive hook refuses such an agent.nix with the file, the line and
option, the JSON field it comes from and the command that changes it: through
a real `git push` to the meta repo `hive init` made, with its real hook. The
check reads the text (desired/agentnix.py); the cases below show what it
catches and what it leaves alone. The build-time check is in
tests/nixos/test_agent_options.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from desired.agentnix import check_agent_nix
from tests.conftest import HiveRunner
from tests.desired.test_git_push import clone, commit_file, git, head

REFUSED = {
    "plain": ('{ ... }: {\n  hyperhive.model = "haiku";\n}', "line 2: hyperhive.model"),
    "nested": ('{ ... }: { hyperhive = { allowedRecipients = [ "x" ]; }; }', "hyperhive.allowedRecipients"),
    "under config and mkIf": (
        "{ lib, ... }: { config = lib.mkIf true { hyperhive.uid = 0; }; }",
        "config.hyperhive.uid",
    ),
    "mkForce": ('{ lib, ... }: { hyperhive.role = lib.mkForce "manager"; }', "hyperhive.role"),
    "in mkMerge": ('{ lib, ... }: { config = lib.mkMerge [ { hyperhive.name = "x"; } ]; }', "hyperhive.name"),
    "quoted name": ('{ ... }: { "hyperhive"."model" = "haiku"; }', "hyperhive.model"),
    "an imported module": ("{ ... }: { imports = [ { hyperhive.package = null; } ]; }", "hyperhive.package"),
    "inherit": ("{ ... }: let hyperhive = { }; in { inherit hyperhive; }", "line 1: hyperhive"),
    "declaring under it": (
        "{ lib, ... }: { options.hyperhive.x = lib.mkOption { }; }",
        "options.hyperhive.x",
    ),
    "after a let": ('{ ... }: let m = "x"; in { hyperhive.model = m; }', "hyperhive.model"),
}
ALLOWED = {
    "reading": "{ config, ... }: { networking.hostName = config.hyperhive.name; }",
    "comments": '{ ... }: {\n  # hyperhive.model = "haiku";\n  /* hyperhive.uid = 0; */\n}',
    "strings": '{ ... }: { environment.etc.x.text = "hyperhive.model = 1;";\n'
    "  environment.etc.y.text = ''\n  hyperhive.uid = 0; ${toString 1}\n''; }",
    "another option's attribute": "{ ... }: { services.a.hyperhive = 1; services.b = { hyperhive = 1; }; }",
    "with": "{ lib, ... }: { services.foo = with lib; { hyperhive = mkDefault 1; }; }",
    "a let value": "{ ... }: { services.foo = let a = 1; in { hyperhive = a; }; }",
    "a let binding named so": "{ ... }: let hyperhive = 1; in { networking.hostName = toString hyperhive; }",
    "extending": "{ pkgs, ... }: { environment.systemPackages = [ pkgs.ripgrep ]; services.a.b = 1; }",
}


@pytest.mark.parametrize(("text", "where"), REFUSED.values(), ids=REFUSED.keys())
def test_setting_a_hyperhive_option_is_refused(text: str, where: str) -> None:
    problems = list(check_agent_nix("agents/coder/agent.nix", "coder", text))
    assert len(problems) == 1, problems
    assert problems[0].file == "agents/coder/agent.nix" and problems[0].path.endswith(where)


@pytest.mark.parametrize("text", ALLOWED.values(), ids=ALLOWED.keys())
def test_reading_and_extending_are_allowed(text: str) -> None:
    assert list(check_agent_nix("agents/coder/agent.nix", "coder", text)) == []


@given(st.text(alphabet=st.sampled_from(list("hyperive.={};\"'$#/*()[] inletx\n")), max_size=80))
def test_any_text_is_read_without_an_error(text: str) -> None:
    """The hook reads whatever is pushed: unbalanced braces and unterminated strings included."""
    for problem in check_agent_nix("agents/coder/agent.nix", "coder", text):
        assert problem.file == "agents/coder/agent.nix"


def test_a_push_setting_a_hyperhive_option_is_refused_naming_the_json_field(
    hive: HiveRunner, state_dir: Path, tmp_path: Path
) -> None:
    work = clone(hive, state_dir, tmp_path)
    commit_file(work, "agents/coder.json", json.dumps({"name": "coder", "model": "opus"}), "add coder")
    assert git(work, "push", "origin", "main").returncode == 0
    before = head(state_dir)
    sneaky = '  hyperhive.model = lib.mkForce "haiku";\n'
    agent_nix = "{ pkgs, lib, ... }: {\n  environment.systemPackages = [ pkgs.git ];\n" + sneaky + "}\n"
    commit_file(work, "agents/coder/agent.nix", agent_nix, "coder: haiku, quietly")
    push = git(work, "push", "origin", "main")
    assert push.returncode != 0
    assert (
        "agents/coder/agent.nix: line 3: hyperhive.model: hyperhive.model is set from agents/coder.json "
        "`model`; agent.nix may read it but not set it" in push.stderr
    )
    assert "fix: remove it from agent.nix; change it there: hive agent set coder model opus" in push.stderr
    assert head(state_dir) == before, "nothing may land"

    commit_file(
        work,
        "agents/coder/agent.nix",
        agent_nix.replace(sneaky, ""),
        "fix",
    )
    assert git(work, "push", "origin", "main").returncode == 0
    shown = json.loads(hive("agent", "show", "coder", "--json").stdout)
    assert "pkgs.git" in shown["agent_nix"] and shown["model"] == "opus"
