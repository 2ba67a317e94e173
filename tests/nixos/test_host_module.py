"""The NixOS host module (nix/modules/hyperhive.nix) starts a `hive serve` the real CLI accepts.

There is no NixOS and no nixpkgs here: the module is evaluated by the real
`nix-instantiate` against the stand-in `lib` and `pkgs` (tests/seams/nixlib.nix,
nixpkgs.nix), and what it would run is handed to the real CLI's parser:
every flag of ExecStart and preStart goes through the click command's
`make_context` (parsing, type conversion and callbacks, without running), so
a renamed or retyped flag fails here. Every HIVE_* variable it sets is read
back by the code that reads it on a host.
"""

from __future__ import annotations

import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import typer

from hive.cli.main import app
from reconciler.nixrender import FlakeInputs, pin_problem
from tests.conftest import REPO_ROOT
from tests.seams.nixeval import NixError, eval_system, path

MODULE = REPO_ROOT / "nix" / "modules" / "hyperhive.nix"
PACKAGE = (
    f"{{ services.hyperhive.package = pkgs.callPackage {path(REPO_ROOT / 'nix' / 'package.nix')} {{ }}; }}"
)


def host(*settings: str, select: str = "config.systemd.services.hyperhive", checked: bool = True) -> Any:
    """The host's config with services.hyperhive enabled and ``settings`` (Nix modules) added."""
    enable = "{ services.hyperhive.enable = true; }"
    return eval_system([path(MODULE), PACKAGE, enable, *settings], select, checked=checked)


def service(*settings: str) -> dict[str, Any]:
    return host(*settings)  # type: ignore[no-any-return]


def parse(command_line: str) -> tuple[str, dict[str, Any]]:
    """Parse ``command_line`` as the real `hive` would, without running it: (command, params)."""
    argv = shlex.split(command_line)
    scripts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    program = Path(argv[0]).name
    assert program in scripts, f"{argv[0]}: the package installs no {program} ({sorted(scripts)})"
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    command = group.commands[argv[1]]
    return argv[1], command.make_context(argv[1], argv[2:]).params


@pytest.mark.parametrize("runtime", ["nixos", "local"])
def test_every_flag_the_service_passes_is_one_hive_accepts(runtime: str) -> None:
    unit = service(
        f'{{ services.hyperhive.runtime = "{runtime}"; services.hyperhive.dashboardPort = 7123; }}'
    )
    name, params = parse(unit["serviceConfig"]["ExecStart"])
    assert name == "serve"
    assert params["state_dir"] == Path("/var/lib/hyperhive")
    assert params["runtime"] == runtime
    assert (params["web_host"], params["web_port"]) == ("127.0.0.1", 7123)
    assert params["agent_uids"] == "60100-60999"
    name, params = parse(unit["preStart"])
    assert name == "init" and params["state_dir"] == Path("/var/lib/hyperhive")


def test_a_flag_hive_does_not_know_fails_the_check() -> None:
    """What the module shipped with before: `--port`, which `hive serve` never had."""
    with pytest.raises(typer._click.exceptions.NoSuchOption, match="--port"):
        parse("/nix/store/x-hyperhive/bin/hive serve --state-dir /var/lib/hyperhive --port 7000")


def test_the_operators_shell_finds_the_same_swarm_as_the_service(monkeypatch: pytest.MonkeyPatch) -> None:
    """`hive status` as root on the host reads environment.variables; the CLI's envvars must give the
    same state dir, runtime and uid range the service's flags give."""
    config = host(
        '{ services.hyperhive.runtime = "local"; services.hyperhive.agentUids = "61000-61099"; }',
        select="{ shell = config.environment.variables; unit = config.systemd.services.hyperhive; }",
    )
    shell = config["shell"]
    for var in list(shell):
        monkeypatch.delenv(var, raising=False)
    _, flags = parse(config["unit"]["serviceConfig"]["ExecStart"])
    for var, value in shell.items():
        monkeypatch.setenv(var, value)
    _, from_env = parse("/x/bin/hive serve")
    for key in ("state_dir", "runtime", "agent_uids"):
        assert from_env[key] == flags[key], key
    assert set(shell) <= set(config["unit"]["environment"])


def test_the_nixos_runtime_gets_pinned_inputs_the_daemon_accepts() -> None:
    """The service's environment carries the meta flake's inputs: the source of the package the
    host runs and the host's own nixpkgs, both store paths, read back by the daemon's parser."""
    unit = host()
    env = unit["environment"]
    package = host(select="config.services.hyperhive.package.src")
    inputs = FlakeInputs.from_env(env)
    assert inputs.hyperhive == f"path:{package}"
    assert inputs.nixpkgs == "path:" + host(select="pkgs.path")
    assert inputs.system == "x86_64-linux"
    assert pin_problem(inputs.hyperhive) is None and pin_problem(inputs.nixpkgs) is None
    assert "nixos-container" in " ".join(unit["path"])
    assert host(select="config.boot.enableContainers") is True


def test_the_local_runtime_gets_claude_and_the_sandbox_tools() -> None:
    unit = service('{ services.hyperhive.runtime = "local"; }')
    claude = host(select="pkgs.claude-code.outPath")
    assert unit["environment"]["HIVE_CLAUDE_BIN"] == f"{claude}/bin/claude"
    tools = {Path(p).name.split("-", 1)[1] for p in unit["path"]}
    assert {"git", "bubblewrap", "util-linux", "nix"} <= tools  # bwrap, setpriv, nix-instantiate
    assert "HIVE_HYPERHIVE_INPUT" not in unit["environment"], "pins are for the nixos runtime only"
    override = service(
        '{ services.hyperhive.runtime = "local"; services.hyperhive.claudePackage = pkgs.git; }'
    )
    assert override["environment"]["HIVE_CLAUDE_BIN"].endswith("-git/bin/claude")


def test_the_api_key_file_stays_out_of_the_store() -> None:
    assert "EnvironmentFile" not in service()["serviceConfig"]
    unit = service('{ services.hyperhive.environmentFile = "/run/secrets/hyperhive.env"; }')
    assert unit["serviceConfig"]["EnvironmentFile"] == "/run/secrets/hyperhive.env"


def test_operator_pronouns_is_refused_pointing_at_hive_json() -> None:
    with pytest.raises(NixError, match="operatorPronouns") as caught:
        host('{ services.hyperhive.operatorPronouns = "she/her"; }')
    assert "operator_pronouns" in str(caught.value) and "hive.json" in str(caught.value)


def test_an_agent_uid_range_that_overlaps_a_host_user_is_refused() -> None:
    assert host(select="config.services.hyperhive.enable")
    with pytest.raises(NixError, match=r"agentUids \(60100-60999\) overlaps"):
        host("{ users.users.alice.uid = 60150; }", select="config.services.hyperhive.enable")
    with pytest.raises(NixError, match="overlaps"):
        host("{ users.groups.media.gid = 60999; }", select="config.services.hyperhive.enable")
    with pytest.raises(NixError, match="must not be above"):
        host('{ services.hyperhive.agentUids = "61000-60100"; }', select="config.services.hyperhive.enable")


def test_without_the_flake_the_package_must_be_set() -> None:
    """The module alone (no flake, no overlay): a clear message instead of `pkgs.hyperhive` missing."""
    modules = [path(MODULE), "{ services.hyperhive.enable = true; }"]
    with pytest.raises(NixError, match=r"services\.hyperhive\.package is not set"):
        eval_system(modules, "config.systemd.services.hyperhive.serviceConfig.ExecStart")


def test_disabled_it_adds_nothing() -> None:
    select = (
        "{ service = (config.systemd.services or { }) ? hyperhive; packages = config.environment or { }; }"
    )
    assert eval_system([path(MODULE)], select) == {"service": False, "packages": {}}
