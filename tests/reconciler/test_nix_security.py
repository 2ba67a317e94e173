"""What a nixos container gives a hostile agent, checked by evaluating the Nix that builds it.

There is no NixOS host and no nixpkgs here, so `nix-instantiate --eval`
is the check:

- the host side, the rendered `container.nix` (plain Nix, evaluated as the
  nixos runtime evaluates it): loopback only, no user namespace, exactly
  three bind mounts with this state dir's paths, and the conf lines
  `container@.service` reads, turned into systemd-nspawn flags the way its
  start script turns them (`tests.seams.nixos_container.nspawn_flags`);
- the inside, `harness-base.nix`, evaluated as a module by the stand-in
  `lib` and module evaluator (tests/seams/nixlib.nix, as the meta flake
  calls it): the harness unit's user and uid, its hardening and its
  environment.

Each check lists problems rather than stopping at the first, and the last
tests weaken the shipped files one setting at a time to show that every one
of them is guarded.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from hive_kit.launch import (
    ENV_CONFIG,
    ENV_EGRESS,
    ENV_PAGE,
    ENV_SOCKET,
    ENV_STATE,
    SANDBOX_CONFIG,
    SANDBOX_EGRESS,
    SANDBOX_HOME,
    SANDBOX_PAGE,
    SANDBOX_RUN,
    SANDBOX_SOCKET,
    SANDBOX_STATE,
    AgentLaunchConfig,
)
from hive_kit.names import Role
from hive_kit.paths import StateLayout
from reconciler.nixrender import NIX_TEMPLATES, render_container
from tests.conftest import REPO_ROOT
from tests.seams import nixeval
from tests.seams.nixeval import eval_agent, eval_system
from tests.seams.nixeval import path as nix_path
from tests.seams.nixos_container import nspawn_flags

UID = 60123
USER = "hive-agent"
NETWORK_FLAGS = (
    "--network-veth",
    "--port",
    "--network-bridge",
    "--network-interface",
    "--network-macvlan",
    "--network-namespace-path",
)
HARDENING: dict[str, Any] = {
    "User": USER,
    "Group": USER,
    "NoNewPrivileges": True,
    "CapabilityBoundingSet": "",
    "AmbientCapabilities": "",
    "PrivateTmp": True,
    "ProtectSystem": "strict",
    "ProtectHome": True,
    "ReadWritePaths": [SANDBOX_STATE, str(Path(SANDBOX_PAGE).parent)],
    "RestrictAddressFamilies": ["AF_UNIX", "AF_INET", "AF_INET6"],
    "RestrictNamespaces": True,
    "PrivateDevices": True,
    "ProtectProc": "invisible",
    "ProtectKernelTunables": True,
    "ProtectKernelModules": True,
    "ProtectKernelLogs": True,
    "ProtectControlGroups": True,
    "ProtectClock": True,
    "ProtectHostname": True,
    "RestrictSUIDSGID": True,
    "RestrictRealtime": True,
    "LockPersonality": True,
    "RemoveIPC": True,
    "SystemCallArchitectures": "native",
    "UMask": "0077",
}
ENVIRONMENT = {
    ENV_CONFIG: SANDBOX_CONFIG,
    ENV_SOCKET: SANDBOX_SOCKET,
    ENV_EGRESS: SANDBOX_EGRESS,
    ENV_PAGE: SANDBOX_PAGE,
    ENV_STATE: SANDBOX_STATE,
    "HOME": SANDBOX_HOME,
}


def evaluate(path: Path, *args: str) -> Any:
    done = subprocess.run(
        ["nix-instantiate", "--eval", "--strict", "--json", str(path), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise NixError(done.stderr)
    return json.loads(done.stdout)


class NixError(Exception):
    pass


# --- the host side ----------------------------------------------------------------------------


def container(tmp_path: Path, layout: StateLayout, name: str, *, is_manager: bool = False) -> Any:
    path = tmp_path / f"{name}-container.nix"
    path.write_text(
        render_container(
            name,
            state_dir=layout.agent_state(name),
            run_dir=layout.run_dir_for(name, is_manager=is_manager),
            config_file=layout.agent_build(name) / "agent.json",
            meta=(layout.agent_build(name) / "meta-view", layout.meta) if is_manager else None,
        )
    )
    return evaluate(path)


def container_problems(values: Any, layout: StateLayout, name: str, *, is_manager: bool) -> list[str]:
    problems = []
    if values.get("privateNetwork") is not True:
        problems.append("privateNetwork is not true: the container would share the host's network")
    for key in (
        "hostAddress",
        "localAddress",
        "hostAddress6",
        "localAddress6",
        "hostBridge",
        "networkNamespace",
    ):
        if values.get(key, "missing") is not None:
            problems.append(
                f"{key} is {values.get(key, 'missing')!r}, not null: the container gets an interface"
            )
    for key in ("forwardPorts", "interfaces", "macvlans", "extraFlags"):
        if values.get(key) != []:
            problems.append(f"{key} is {values.get(key)!r}, not empty")
    if values.get("privateUsers") != "no":
        problems.append(f"privateUsers is {values.get('privateUsers')!r}: the agent's uid must be the host's")
    run_dir = str(layout.run_dir_for(name, is_manager=is_manager))
    binds = {
        SANDBOX_STATE: {"hostPath": str(layout.agent_state(name)), "isReadOnly": False},
        SANDBOX_RUN: {"hostPath": run_dir, "isReadOnly": False},
        SANDBOX_CONFIG: {"hostPath": str(layout.agent_build(name) / "agent.json"), "isReadOnly": True},
    }
    if is_manager:  # its read-only meta view: never the meta repo whole (its config may hold a token)
        binds["/meta.git"] = {"hostPath": str(layout.agent_build(name) / "meta-view"), "isReadOnly": True}
        for sub in ("objects", "refs"):
            binds[f"/meta.git/{sub}"] = {"hostPath": str(layout.meta / sub), "isReadOnly": True}
    want = {point: {**bind, "mountPoint": point} for point, bind in binds.items()}
    if values.get("bindMounts") != want:
        problems.append(f"bindMounts are {values.get('bindMounts')!r}, want {want!r}")
    conf = dict(line.split("=", 1) for line in values.get("conf", "").splitlines())
    flags = nspawn_flags({key: value.strip('"') for key, value in conf.items()})
    if "--private-network" not in flags:
        problems.append(f"nspawn would not get --private-network: {flags}")
    if network := [flag for flag in flags if flag.startswith(NETWORK_FLAGS)]:
        problems.append(f"nspawn would give the container an interface: {network}")
    if "--private-users=no" not in flags:
        problems.append(f"nspawn would map users: {flags}")
    bind_flags = sorted(f for f in flags if f.startswith("--bind"))
    want_flags = sorted(
        ("--bind-ro=" if b["isReadOnly"] else "--bind=") + f"{b['hostPath']}:{point}"
        for point, b in binds.items()
    )
    if bind_flags != want_flags:
        problems.append(f"nspawn binds are {bind_flags}, want {want_flags}")
    return problems


@pytest.mark.parametrize("is_manager", [False, True], ids=["agent", "manager"])
def test_the_container_has_loopback_only_and_binds_only_its_own_dirs(
    tmp_path: Path, is_manager: bool
) -> None:
    layout = StateLayout(tmp_path / "state")
    name = "manager" if is_manager else "coder"
    values = container(tmp_path, layout, name, is_manager=is_manager)
    assert container_problems(values, layout, name, is_manager=is_manager) == []
    expected_run = layout.root / "run" / ("manager" if is_manager else f"agents/{name}")
    assert values["bindMounts"]["/run/hive"]["hostPath"] == str(expected_run)
    assert values["conf"].splitlines()[0] == "PRIVATE_NETWORK=1"


@pytest.mark.parametrize("bad", ["/var/lib/hyper hive", '/var/lib/"x', "/var/lib/a:b", "relative/dir"])
def test_a_host_path_a_bind_cannot_carry_is_refused(tmp_path: Path, bad: str) -> None:
    path = tmp_path / "container.nix"
    path.write_text(
        render_container("coder", state_dir=Path(bad), run_dir=tmp_path, config_file=tmp_path / "a")
    )
    with pytest.raises(NixError, match="has characters a container bind cannot carry"):
        evaluate(path)


# --- the inside -------------------------------------------------------------------------------


def harness(tmp_path: Path, *, uid: int | None = UID, extra: str = "{ }", base: Path | None = None) -> Any:
    """The container's config: harness-base.nix evaluated as a module against the stand-in `lib`
    (tests/seams/nixlib.nix), with ``extra`` as the agent's agent.nix."""
    launch = AgentLaunchConfig(name="coder", role=Role.AGENT, model="opus", uid=uid)
    config_file = tmp_path / "agent.json"
    launch.write(config_file)
    select = "{ inherit (config) systemd users networking hyperhive assertions; }"
    try:
        return eval_agent(base or NIX_TEMPLATES, config_file, [extra], select)
    except nixeval.NixError as exc:
        raise NixError(str(exc)) from exc


def harness_problems(config: Any, uid: int) -> list[str]:
    problems = []
    unit = config.get("systemd", {}).get("services", {}).get("hive-harness", {})
    service = unit.get("serviceConfig", {})
    for key, want in HARDENING.items():
        if service.get(key, "unset") != want:
            problems.append(f"serviceConfig.{key} is {service.get(key, 'unset')!r}, want {want!r}")
    environment = unit.get("environment", {})
    for key, want in ENVIRONMENT.items():
        if environment.get(key) != want:
            problems.append(f"environment.{key} is {environment.get(key)!r}, want {want!r}")
    account = config.get("users", {}).get("users", {}).get(USER, {})
    if account.get("uid") != uid or account.get("group") != USER or account.get("isSystemUser") is not True:
        problems.append(f"users.users.{USER} is {account!r}, want system user with uid {uid}")
    group = config.get("users", {}).get("groups", {}).get(USER, {})
    if group.get("gid") != uid:
        problems.append(f"users.groups.{USER} is {group!r}, want gid {uid}")
    rules = config.get("systemd", {}).get("tmpfiles", {}).get("rules", [])
    for path in (SANDBOX_STATE, str(Path(SANDBOX_PAGE).parent)):
        if f"d {path} 0700 {USER} {USER} -" not in rules:
            problems.append(f"no tmpfiles rule making {path} the agent's (0700): {rules}")
    if config.get("networking", {}).get("useDHCP") is not False:
        problems.append("networking.useDHCP is not false")
    return problems


def failed_assertions(config: Any) -> list[str]:
    return [a["message"] for a in config["assertions"] if not a["assertion"]]


def test_the_harness_runs_as_the_agents_uid_with_nothing_to_escalate_with(tmp_path: Path) -> None:
    config = harness(tmp_path)
    assert harness_problems(config, UID) == []
    assert failed_assertions(config) == []
    assert config["hyperhive"]["uid"] == UID
    exec_start = config["systemd"]["services"]["hive-harness"]["serviceConfig"]["ExecStart"]
    assert exec_start.endswith("-hyperhive/bin/hive-harness serve --role agent")
    assert config["systemd"]["services"]["hive-harness"]["environment"]["HIVE_CLAUDE_BIN"].endswith(
        "-claude-code/bin/claude"
    )


def test_without_an_allocated_uid_the_container_refuses_to_build(tmp_path: Path) -> None:
    messages = failed_assertions(harness(tmp_path, uid=None))
    assert len(messages) == 1 and "has no uid in its agent.json" in messages[0]
    assert "never runs as root" in messages[0]


def test_agent_nix_cannot_move_the_agent_to_another_uid(tmp_path: Path) -> None:
    messages = failed_assertions(harness(tmp_path, extra="{ hyperhive.uid = 60124; }"))
    assert len(messages) == 1 and "hyperhive.uid is set from the daemon's allocation" in messages[0]


# --- every setting is guarded -----------------------------------------------------------------

WEAKENED_HARNESS = [
    *[(f" {key} = ", "") for key in HARDENING],
    *[(f" {key} = ", "") for key in ENVIRONMENT],
    ('ProtectSystem = "strict";', 'ProtectSystem = "full";'),
    ("NoNewPrivileges = true;", "NoNewPrivileges = false;"),
    ('CapabilityBoundingSet = "";', 'CapabilityBoundingSet = "CAP_NET_RAW";'),
    ('ReadWritePaths = [ "/state" "/run/hive/page" ];', 'ReadWritePaths = [ "/state" "/run/hive" ];'),
    ('"AF_INET6" ];', '"AF_INET6" "AF_NETLINK" ];'),
    ("uid = cfg.uid;", ""),
    ("users.groups.${user}.gid = cfg.uid;", ""),
    ('"d /state 0700 ${user} ${user} -"', ""),
    ("networking.useDHCP = false;", ""),
]
WEAKENED_CONTAINER = [
    ("privateNetwork = true;", "privateNetwork = false;"),
    ("privateNetwork = true;", ""),
    ("hostAddress = null;", 'hostAddress = "10.233.1.1";'),
    ("localAddress = null;", 'localAddress = "10.233.1.2";'),
    ("hostAddress6 = null;", 'hostAddress6 = "fc00::1";'),
    ("localAddress6 = null;", ""),
    ("hostBridge = null;", 'hostBridge = "br0";'),
    ("networkNamespace = null;", 'networkNamespace = "/run/netns/host";'),
    ("forwardPorts = [ ];", 'forwardPorts = [ { protocol = "tcp"; hostPort = 80; containerPort = null; } ];'),
    ("interfaces = [ ];", 'interfaces = [ "eth0" ];'),
    ("macvlans = [ ];", 'macvlans = [ "eth0" ];'),
    ('privateUsers = "no";', 'privateUsers = "pick";'),
    ("bind runDir false", "bind runDir true"),
    ('"/state" = bind stateDir false "/state";', ""),
    ('"/run/hive" = bind runDir false "/run/hive";', '"/run/hive" = bind "/" false "/run/hive";'),
    ("extraFlags = [ ];", 'extraFlags = [ "--bind=/:/host" ];'),
    ('(line net "PRIVATE_NETWORK=1")', ""),
]


def weakened(tmp_path: Path, file: str, old: str, new: str) -> Path:
    """A copy of reconciler/nix with one line of ``file`` weakened (``new`` replaces the line if empty)."""
    base = tmp_path / "templates"
    shutil.copytree(NIX_TEMPLATES, base)
    text = (base / file).read_text()
    assert text.count(old) == 1, f"{old!r} is not once in {file}: update this test with the file"
    if new:
        text = text.replace(old, new)
    else:
        text = "".join(line for line in text.splitlines(keepends=True) if old not in line)
    (base / file).write_text(text)
    return base


@pytest.mark.parametrize(("old", "new"), WEAKENED_HARNESS, ids=lambda x: x.strip() or "dropped")
def test_a_weakened_harness_unit_is_caught(tmp_path: Path, old: str, new: str) -> None:
    base = weakened(tmp_path, "harness-base.nix", old, new)
    try:
        config = harness(tmp_path, base=base)
    except NixError:
        return  # it no longer evaluates: caught as well
    assert harness_problems(config, UID), f"weakening {old!r} went unnoticed"


@pytest.mark.parametrize(("old", "new"), WEAKENED_CONTAINER, ids=lambda x: x.strip() or "dropped")
def test_a_weakened_container_is_caught(tmp_path: Path, old: str, new: str) -> None:
    base = weakened(tmp_path, "container.nix", old, new)
    layout = StateLayout(tmp_path / "state")
    path = tmp_path / "container.nix"
    rendered = render_container(
        "coder",
        state_dir=layout.agent_state("coder"),
        run_dir=layout.run_dir_for("coder", is_manager=False),
        config_file=layout.agent_build("coder") / "agent.json",
    )
    path.write_text(rendered.replace(str(NIX_TEMPLATES / "container.nix"), str(base / "container.nix")))
    try:
        values = evaluate(path)
    except NixError:
        return
    assert container_problems(values, layout, "coder", is_manager=False), f"weakening {old!r} went unnoticed"


def test_the_host_module_hands_the_agent_uid_range_to_hive_serve() -> None:
    """`services.hyperhive.agentUids` reaches `hive serve` (as --agent-uids, and as HIVE_AGENT_UIDS for
    the operator's shell): without it every host would allocate from the default range whatever it
    set. Evaluated against the stand-in `lib` (no nixpkgs here)."""
    module = REPO_ROOT / "nix" / "modules" / "hyperhive.nix"
    settings = (
        '{ services.hyperhive = { enable = true; agentUids = "61000-61099"; runtime = "local"; '
        'package = { type = "derivation"; outPath = "/pkg"; src = "/src"; }; }; }'
    )
    unit = eval_system([nix_path(module), settings], "config.systemd.services.hyperhive")
    assert "--agent-uids 61000-61099" in unit["serviceConfig"]["ExecStart"]
    assert unit["environment"]["HIVE_AGENT_UIDS"] == "61000-61099"
