"""hyperhive's flake.nix and the meta flake the reconciler renders, evaluated as Nix would call them.

There is no nixpkgs here and none can be fetched: the flakes' `outputs`
functions are applied to a stand-in nixpkgs flake (tests/seams/nixpkgs.nix,
on the stand-in lib tests/seams/nixlib.nix) by the real `nix-instantiate
--eval --strict`. What is checked is the flakes' own logic: which outputs
exist, what the package is built from and with, that the host module's
package is the flake's, and that every agent container of a rendered meta
flake takes hive-harness from the hyperhive input and claude from nixpkgs.
Building any of it needs a NixOS host: docs/nixos.md has the recipe.
"""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest

from desired.schema import AgentSpec, DesiredState, SwarmSettings, agent_fingerprint
from hive_kit.errors import PermanentError
from hive_kit.names import Role
from reconciler.act import launch_config
from reconciler.nixrender import FlakeInputs, render_flake, write_flake
from tests.conftest import REPO_ROOT
from tests.seams.nixeval import NixError, flake_outputs, nix_eval, path, prelude

SOURCE = "/nix/store/" + "1" * 32 + "-hyperhive-source"
HYPERHIVE = flake_outputs(REPO_ROOT, "{ inherit nixpkgs; }", SOURCE)
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]


def evaluate(select: str, flake: str = HYPERHIVE) -> Any:
    return nix_eval(f"let {prelude()} flake = {flake}; in {select}")


def test_the_flake_exports_the_package_the_modules_and_an_overlay() -> None:
    outputs = evaluate(
        "{ packages = lib.mapAttrs (_: builtins.attrNames) flake.packages;"
        "  modules = builtins.attrNames flake.nixosModules;"
        "  overlay = builtins.attrNames (flake.overlays.default pkgs pkgs);"
        "  checks = builtins.attrNames flake.checks.x86_64-linux; }"
    )
    assert outputs["packages"] == {
        "x86_64-linux": ["default", "hyperhive"],
        "aarch64-linux": ["default", "hyperhive"],
    }
    templates = sorted(p.stem for p in (REPO_ROOT / "reconciler" / "nix").glob("*.nix"))
    container_modules = [t for t in templates if t not in ("agent-json", "container")]
    assert sorted(outputs["modules"]) == sorted(["default", "hyperhive", *container_modules])
    assert outputs["overlay"] == ["hyperhive"]
    assert outputs["checks"] == ["package"]


def test_the_package_is_pyproject_with_the_host_tools_on_its_path() -> None:
    package = evaluate(
        "let p = flake.packages.x86_64-linux.default; in {"
        "  inherit (p) pname version pyproject makeWrapperArgs pythonImportsCheck;"
        "  main = p.meta.mainProgram; deps = map (d: d.name) p.dependencies;"
        "  build = map (d: d.name) p.build-system;"
        "  tools = map (t: t.outPath) [ pkgs.git pkgs.bubblewrap pkgs.util-linux pkgs.nix ]; }"
    )
    assert (package["pname"], package["version"]) == (PYPROJECT["name"], PYPROJECT["version"])
    assert package["pyproject"] is True and package["build"] == ["python3.12-setuptools"]
    wanted = [dep.split(">")[0].split("=")[0].strip().lower() for dep in PYPROJECT["dependencies"]]
    assert package["deps"] == [f"python3.12-{name}" for name in wanted]
    prefix, var, sep, bin_path = package["makeWrapperArgs"]
    assert (prefix, var, sep) == ("--prefix", "PATH", ":")
    assert bin_path.split(":") == [f"{tool}/bin" for tool in package["tools"]]  # git, bwrap, setpriv, nix
    assert package["main"] == "hive"
    assert {"hive", "hive_harness"} <= set(package["pythonImportsCheck"])


def test_a_dependency_nixpkgs_lacks_is_named(tmp_path: Path) -> None:
    (tmp_path / "nix").mkdir()
    shutil.copy(REPO_ROOT / "nix" / "package.nix", tmp_path / "nix" / "package.nix")
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "hyperhive"\nversion = "0.1.0"\ndescription = "x"\n'
        'dependencies = ["pydantic>=2", "no_such-lib[extra]>=1"]\n'
    )
    with pytest.raises(
        NixError, match=r"depends on no_such-lib\[extra\]>=1, and python3Packages has no no-such-lib"
    ):
        evaluate(f"(pkgs.callPackage {path(tmp_path / 'nix' / 'package.nix')} {{ }}).dependencies")


def test_the_host_module_from_the_flake_runs_the_flakes_package() -> None:
    select = (
        "(lib.nixosSystem { modules = [ flake.nixosModules.default "
        "{ services.hyperhive.enable = true; users.users.root.uid = 0; users.groups.root.gid = 0; } ]; })"
        ".toplevel.systemd.services.hyperhive.serviceConfig.ExecStart"
    )
    exec_start = evaluate(select)
    package = evaluate("flake.packages.x86_64-linux.default.outPath")
    assert exec_start.startswith(f"{package}/bin/hive serve ")


# --- the meta flake ---------------------------------------------------------------------------


def desired_swarm() -> DesiredState:
    return DesiredState(
        settings=SwarmSettings(),
        agents={
            "manager": AgentSpec(name="manager", role=Role.MANAGER),
            "coder": AgentSpec(name="coder", model="opus"),
            "tester": AgentSpec(name="tester"),
        },
        agent_nix={"coder": "{ pkgs, config, ... }: { environment.systemPackages = [ pkgs.git ]; }\n"},
    )


def rendered(tmp_path: Path, desired: DesiredState) -> Path:
    configs = {}
    for uid, name in enumerate(sorted(desired.agents), start=60100):
        launch = launch_config(desired, name, "r" * 40, agent_fingerprint(desired, name))
        configs[name] = json.dumps(launch.model_copy(update={"uid": uid}).model_dump(mode="json"))
    inputs = FlakeInputs(hyperhive=f"path:{SOURCE}", nixpkgs="path:/nix/store/" + "2" * 32 + "-source")
    write_flake(tmp_path, render_flake(desired, "r" * 40, configs, inputs))
    return tmp_path


def meta(root: Path) -> str:
    """The meta flake's outputs with the flake inputs Nix would lock: the stand-in nixpkgs, and
    hyperhive's flake whose nixpkgs follows it."""
    return flake_outputs(root, f"{{ inherit nixpkgs; hyperhive = {HYPERHIVE}; }}", str(root))


def test_every_container_gets_hive_harness_and_claude_from_the_pinned_inputs(tmp_path: Path) -> None:
    root = rendered(tmp_path, desired_swarm())
    select = (
        "lib.mapAttrs (name: system: let c = system.toplevel; in {"
        "  exec = c.systemd.services.hive-harness.serviceConfig.ExecStart;"
        "  claude = c.systemd.services.hive-harness.environment.HIVE_CLAUDE_BIN;"
        "  packages = c.environment.systemPackages or [ ];"
        "  inherit (c.hyperhive) name role model uid; }) flake.nixosConfigurations"
    )
    agents = evaluate(select, meta(root))
    package = evaluate("flake.packages.x86_64-linux.default.outPath")
    claude = evaluate("pkgs.claude-code.outPath")
    assert sorted(agents) == ["coder", "manager", "tester"]
    for name, agent in agents.items():
        role = "manager" if name == "manager" else "agent"
        assert agent["exec"] == f"{package}/bin/hive-harness serve --role {role}", name
        assert agent["claude"] == f"{claude}/bin/claude", name
        assert (agent["name"], agent["role"]) == (name, role)
    assert agents["coder"]["model"] == "opus" and agents["coder"]["packages"][0].endswith("-git")
    assert [agents[n]["uid"] for n in ("coder", "manager", "tester")] == [60100, 60101, 60102]


def test_an_agent_nix_that_sets_a_hyperhive_option_fails_its_container_only(tmp_path: Path) -> None:
    desired = desired_swarm()
    desired = desired.model_copy(update={"agent_nix": {"coder": '{ ... }: { hyperhive.model = "haiku"; }\n'}})
    root = rendered(tmp_path, desired)
    assert evaluate("flake.nixosConfigurations.tester.toplevel.hyperhive.model", meta(root)) == "sonnet"
    with pytest.raises(NixError, match=r"hyperhive\.model is set from agents/coder\.json `model`"):
        evaluate("flake.nixosConfigurations.coder.toplevel.hyperhive.model", meta(root))


# --- the host's pins, as the daemon reads them ------------------------------------------------


def test_the_daemon_refuses_to_render_without_the_hosts_pins() -> None:
    with pytest.raises(
        PermanentError, match="HIVE_HYPERHIVE_INPUT is not set; HIVE_NIXPKGS_INPUT is not set"
    ):
        FlakeInputs.from_env({})
    pinned = {"HIVE_HYPERHIVE_INPUT": f"path:{SOURCE}"}
    with pytest.raises(PermanentError, match="is not a path: flake reference") as caught:
        FlakeInputs.from_env(pinned | {"HIVE_NIXPKGS_INPUT": "github:NixOS/nixpkgs/nixos-25.05"})
    assert "services.hyperhive" in str(caught.value)
    with pytest.raises(PermanentError, match="is not pinned"):
        FlakeInputs.from_env(pinned | {"HIVE_NIXPKGS_INPUT": "path:/home/me/nixpkgs"})
    with pytest.raises(PermanentError, match="not a Nix system"):
        FlakeInputs.from_env(
            pinned | {"HIVE_NIXPKGS_INPUT": f"path:{SOURCE}", "HIVE_NIX_SYSTEM": "x86 linux"}
        )
    checked = FlakeInputs.from_env(pinned | {"HIVE_NIXPKGS_INPUT": "path:/srv/nixpkgs?narHash=sha256-AAAA"})
    assert checked.nixpkgs == "path:/srv/nixpkgs?narHash=sha256-AAAA" and checked.system == "x86_64-linux"
