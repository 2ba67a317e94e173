"""The model key stays on the host on NixOS too: containers get the gateway's socket, never the key.

Whether the host holds a key is decided by the daemon (``FlakeInputs.from_env``,
the local runtime's rule: a key in its environment or ``secrets.env``, and
``HIVE_MODEL_GATEWAY`` not off) and rendered into the meta flake as a bool;
harness-base.nix then gives the harness ``HIVE_MODEL_SOCKET``. The flake's
containers are evaluated by the real `nix-instantiate` against the stand-in
nixpkgs (tests/seams/nixpkgs.nix): no NixOS host, no build here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.nixrender import FlakeInputs, describe_changes, render_flake, write_flake
from tests.nixos.test_flake import SOURCE, desired_swarm, evaluate, meta, rendered

KEY = "sk-ant-api03-host-only-" + "k" * 20
PINS = {
    "HIVE_HYPERHIVE_INPUT": f"path:{SOURCE}",
    "HIVE_NIXPKGS_INPUT": "path:/nix/store/" + "2" * 32 + "-source",
}
ENV_OF_HARNESS = (
    "lib.mapAttrs (name: system: system.toplevel.systemd.services.hive-harness.environment) "
    "flake.nixosConfigurations"
)


def harness_envs(tmp_path: Path, *, gateway: bool) -> dict[str, dict[str, Any]]:
    root = rendered(tmp_path, desired_swarm())  # the agents' launch configs, then the flake again:
    inputs = FlakeInputs(PINS["HIVE_HYPERHIVE_INPUT"], PINS["HIVE_NIXPKGS_INPUT"], model_gateway=gateway)
    configs = {p.parent.name: p.read_text() for p in (root / "agents").glob("*/agent.json")}
    write_flake(root, render_flake(desired_swarm(), "r" * 40, configs, inputs))
    envs: dict[str, dict[str, Any]] = evaluate(ENV_OF_HARNESS, meta(root))
    return envs


def test_with_a_host_key_every_harness_gets_the_gateway_socket_and_no_key(tmp_path: Path) -> None:
    envs = harness_envs(tmp_path, gateway=True)
    assert sorted(envs) == ["coder", "manager", "tester"]
    for name, env in envs.items():
        assert env["HIVE_MODEL_SOCKET"] == "/run/hive/model.sock", name
        assert not {"ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN"} & env.keys(), name
        assert "ANTHROPIC_BASE_URL" not in env, "the harness points claude at its own forwarder"


def test_without_a_host_key_no_harness_is_sent_to_the_gateway(tmp_path: Path) -> None:
    for name, env in harness_envs(tmp_path, gateway=False).items():
        assert "HIVE_MODEL_SOCKET" not in env, f"{name} would call a gateway that holds no key"


@pytest.mark.parametrize(
    ("env", "secrets", "on"),
    [
        ({"ANTHROPIC_API_KEY": KEY}, "", True),
        ({"CLAUDE_CODE_OAUTH_TOKEN": KEY}, "", True),
        ({}, f"ANTHROPIC_API_KEY={KEY}\n", True),  # the key in <state>/secrets.env
        ({"ANTHROPIC_API_KEY": KEY, "HIVE_MODEL_GATEWAY": "off"}, "", False),  # the operator's switch
        ({}, f"ANTHROPIC_API_KEY={KEY}\nHIVE_MODEL_GATEWAY=off\n", True),  # the switch is the daemon's env
        ({}, "", False),
        ({"ANTHROPIC_BASE_URL": "https://proxy.example"}, "", False),  # an endpoint is no key
    ],
)
def test_the_daemon_decides_as_the_local_runtime_does(
    tmp_path: Path, env: dict[str, str], secrets: str, on: bool
) -> None:
    path = tmp_path / "secrets.env"
    path.write_text(secrets)
    inputs = FlakeInputs.from_env(PINS | env, path)
    assert inputs.model_gateway is on


def test_the_key_is_in_no_file_of_the_meta_flake(tmp_path: Path) -> None:
    """The flake dir is copied into the world-readable Nix store on every build."""
    path = tmp_path / "secrets.env"
    path.write_text(f"ANTHROPIC_AUTH_TOKEN={KEY}x\n")
    inputs = FlakeInputs.from_env(PINS | {"ANTHROPIC_API_KEY": KEY}, path)
    assert inputs.model_gateway and KEY not in json.dumps(inputs.to_json())
    files = render_flake(desired_swarm(), "r" * 40, {"coder": "{}", "manager": "{}"}, inputs)
    assert "modelGateway = true;" in files["flake.nix"]
    assert not [rel for rel, text in files.items() if KEY in text]


def test_a_change_of_the_hosts_inputs_reads_as_one_line() -> None:
    old = FlakeInputs(f"path:{SOURCE}", PINS["HIVE_NIXPKGS_INPUT"]).to_json()
    new = FlakeInputs(
        "path:/nix/store/" + "3" * 32 + "-hyperhive-source", PINS["HIVE_NIXPKGS_INPUT"], model_gateway=True
    )
    assert describe_changes(new.changes_from(old)) == (
        "host's nix inputs changed (hyperhive 11111111 → 33333333; model gateway off → on)"
    )
    pinned = FlakeInputs("path:/srv/hyperhive?narHash=sha256-abcdefghijklmnop", PINS["HIVE_NIXPKGS_INPUT"])
    assert "hyperhive 11111111 → sha256-abcdefgh" in describe_changes(pinned.changes_from(old))
    assert FlakeInputs(f"path:{SOURCE}", PINS["HIVE_NIXPKGS_INPUT"]).changes_from(old) == ()
