"""The `nixos` driver issues the right `nixos-container` commands in the right order.

There is no NixOS host here, so `nixos-container` is a recording stand-in
(tests/seams/nixos_container.py) placed on PATH; everything else is real:
the loop, the deploy store, the rendered meta flake (checked with
`nix-instantiate --parse`), the container settings (evaluated by the real
`nix-instantiate`), the log streaming. The stand-in writes the container's
conf as `nixos-container create` does (a veth pair with addresses) and
reads it back as `container@.service` does, so the tests see the
systemd-nspawn flags a real container would start with.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from desired.repo import MetaRepo
from hive_core.events import ContainerCrash
from hive_kit.errors import NotFoundError, TemporaryError, UserError
from hive_kit.paths import StateLayout
from reconciler.events import MemorySink
from reconciler.health import AliveHealth
from reconciler.loop import LoopSettings, Reconciler
from reconciler.model import ActionKind
from reconciler.runtime.base import MAX_LOG_LINES, LogScope
from reconciler.runtime.nixos import NixosRuntime
from tests.reconciler.conftest import add, remove, set_field
from tests.seams import nixos_host


@pytest.fixture
def nixos(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layout: StateLayout) -> tuple[NixosRuntime, Path]:
    record = nixos_host.install(tmp_path, monkeypatch)
    return NixosRuntime(layout, conf_dir=tmp_path / "conf"), record


def calls(record: Path, name: str) -> list[list[str]]:
    lines = [json.loads(x) for x in record.read_text().splitlines()]
    return [c for c in lines if c[0] not in ("list", "status") and c[1] == name]


NETWORK_FLAGS = (
    "--network-veth",
    "--port",
    "--network-bridge",
    "--network-interface",
    "--network-macvlan",
    "--network-namespace-path",
)


def nspawn(record: Path, name: str) -> list[str]:
    """The systemd-nspawn flags the container last started with (as container@.service derives them)."""
    flags: list[str] = json.loads((record.parent / "containers" / name / "nspawn.json").read_text())
    return flags


def assert_loopback_only(layout: StateLayout, record: Path, name: str, *, is_manager: bool = False) -> None:
    flags = nspawn(record, name)
    assert "--private-network" in flags, flags
    assert not [f for f in flags if f.startswith(NETWORK_FLAGS)], f"{name} would get an interface: {flags}"
    assert "--private-users=no" in flags, "the harness's uid must be the same number on the host"
    assert f"--bind={layout.agent_state(name)}:/state" in flags
    assert f"--bind={layout.run_dir_for(name, is_manager=is_manager)}:/run/hive" in flags
    assert f"--bind-ro={layout.agent_build(name) / 'agent.json'}:/etc/hyperhive/agent.json" in flags


def make(layout: StateLayout, runtime: NixosRuntime, sink: MemorySink | None = None) -> Reconciler:
    health = AliveHealth(runtime, settle=0.05)
    return Reconciler(layout, runtime, health=health, events=sink, settings=LoopSettings())


async def test_create_update_destroy_in_order_with_streamed_output(
    layout: StateLayout, repo: MetaRepo, nixos: tuple[NixosRuntime, Path]
) -> None:
    runtime, record = nixos
    add(repo, "coder", model="sonnet")
    sink = MemorySink()
    rec = make(layout, runtime, sink)
    seen_while_building: list[str] = []

    def progress(line: str) -> None:
        if "building" in line and not (record.parent / "build-finished").exists():
            seen_while_building.append(line)

    rec.progress = progress
    try:
        await rec.apply_once()
        flake = f"{layout.root / 'nix'}#coder"
        assert calls(record, "coder") == [["create", "coder", "--flake", flake], ["start", "coder"]]
        assert seen_while_building, "build output must arrive while nixos-container still runs"
        conf = (runtime.conf_dir / "coder.conf").read_text().splitlines()
        assert f"FLAKE={layout.root / 'nix'}" in conf and "AUTO_START=0" in conf, (
            "nixos-container's lines stay"
        )
        assert not [x for x in conf if x.startswith(("HOST_", "LOCAL_"))], "create's veth addresses are gone"
        assert_loopback_only(layout, record, "coder")
        assert_loopback_only(layout, record, "manager", is_manager=True)
        rendered = (layout.agent_build("coder") / "container.nix").read_text()
        assert f'stateDir = "{layout.agent_state("coder")}"' in rendered
        assert any("building" in line for line in runtime.logs("coder", scope=LogScope.BUILD))
        flake_nix = layout.root / "nix" / "flake.nix"
        subprocess.run(["nix-instantiate", "--parse", str(flake_nix)], check=True, capture_output=True)
        assert '"coder" = agent ./agents/coder/agent.json' in flake_nix.read_text()

        assert (await rec.pass_once()).empty  # sees coder up
        (record.parent / "containers" / "coder" / "status").write_text("down")  # it went down by itself
        restart = await rec.pass_once()
        assert [(a.name, a.kind) for a in restart.actions] == [("coder", ActionKind.START)]
        assert sink.of(ContainerCrash, "coder")
        assert calls(record, "coder")[-1] == ["start", "coder"] and len(calls(record, "coder")) == 2, (
            "the restart waits out the crash's backoff"
        )
        rec.reconcile_now()  # the operator does not want to wait
        await rec.pass_once()
        await rec.drain()
        assert calls(record, "coder")[2:] == [["start", "coder"]]

        set_field(repo, "coder", "model", "opus")
        plan = await rec.apply_once()
        assert [(a.name, a.kind) for a in plan.actions] == [("coder", ActionKind.UPDATE)]
        assert calls(record, "coder")[3:] == [["update", "coder", "--flake", flake]]
        rendered = json.loads((layout.root / "nix/agents/coder/agent.json").read_text())
        assert rendered["model"] == "opus"

        remove(repo, "coder")
        await rec.apply_once()
        assert calls(record, "coder")[4:] == [["destroy", "coder"]]
        assert (await rec.pass_once()).empty
    finally:
        rec.store.close()


async def test_a_container_with_a_veth_loses_it_at_its_next_update_or_start(
    layout: StateLayout, repo: MetaRepo, nixos: tuple[NixosRuntime, Path]
) -> None:
    """One made before these settings, or whose conf someone edited, is corrected and restarted."""
    runtime, record = nixos
    add(repo, "coder")
    rec = make(layout, runtime)
    conf = runtime.conf_dir / "coder.conf"
    old_style = "PRIVATE_NETWORK=1\nHOST_ADDRESS=10.233.7.1\nLOCAL_ADDRESS=10.233.7.2\nHOST_PORT=tcp:80:80\n"
    try:
        await rec.apply_once()
        conf.write_text(old_style + "AUTO_START=0\n")
        set_field(repo, "coder", "model", "opus")
        await rec.apply_once()
        assert calls(record, "coder")[-3:] == [
            ["update", "coder", "--flake", f"{layout.root / 'nix'}#coder"],
            ["stop", "coder"],
            ["start", "coder"],
        ], "a reload would keep the old network: the container restarts"
        assert_loopback_only(layout, record, "coder")
        assert "HOST_ADDRESS" not in conf.read_text()

        (record.parent / "containers" / "coder" / "status").write_text("down")
        conf.write_text(old_style + 'EXTRA_NSPAWN_FLAGS="--bind=/:/host"\n')
        before = len(calls(record, "coder"))
        await rec.pass_once()  # sees it down
        rec.reconcile_now()
        await rec.pass_once()
        await rec.drain()
        assert calls(record, "coder")[before:] == [["start", "coder"]]
        assert_loopback_only(layout, record, "coder")
        assert "/host" not in conf.read_text()
    finally:
        rec.store.close()


async def test_a_failed_build_is_permanent_and_stalls_only_that_agent(
    layout: StateLayout, repo: MetaRepo, nixos: tuple[NixosRuntime, Path]
) -> None:
    runtime, record = nixos
    add(repo, "broken")
    rec = make(layout, runtime)
    try:
        await rec.apply_once()
        retry = rec.retry["broken"]
        assert retry.permanent and retry.stalled
        assert "error: attribute 'nonsense' missing" in retry.error
        assert "nixos-container create broken" in retry.error
        assert calls(record, "broken") == [["create", "broken", "--flake", f"{layout.root / 'nix'}#broken"]]
        assert calls(record, "manager")[-1] == ["start", "manager"]
    finally:
        rec.store.close()


async def test_missing_nixos_container_names_the_fix(
    layout: StateLayout, repo: MetaRepo, monkeypatch
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    rec = make(layout, NixosRuntime(layout))
    try:
        with pytest.raises(Exception, match="needs a NixOS host"):
            await rec.pass_once()
    finally:
        rec.store.close()


# ---- logs: the container's journal ------------------------------------------------------------


def journal_calls(record: Path) -> list[list[str]]:
    return [c for c in map(json.loads, record.read_text().splitlines()) if c[0] == "journalctl"]


def journal(record: Path, name: str) -> Path:
    return record.parent / "containers" / name / "journal.jsonl"


async def test_logs_come_from_journalctl_on_the_container_harness_unit_first(
    layout: StateLayout, repo: MetaRepo, nixos: tuple[NixosRuntime, Path]
) -> None:
    runtime, record = nixos
    add(repo, "coder")
    rec = make(layout, runtime)
    try:
        await rec.apply_once()
    finally:
        rec.store.close()
    harness = runtime.logs("coder", 50)
    assert journal_calls(record) == [
        [
            "journalctl",
            "-M",
            "coder",
            "-u",
            "hive-harness.service",
            "-n",
            "50",
            "--no-pager",
            "--output=short-iso",
        ]
    ]
    assert [line.split(" ", 2)[2] for line in harness] == [
        "hive-harness[1]: coder: agent system prompt from /nix/store/…/agent.md"
    ]
    machine = runtime.logs("coder", 50, LogScope.MACHINE)
    assert journal_calls(record)[-1] == [
        "journalctl",
        "-M",
        "coder",
        "-n",
        "50",
        "--no-pager",
        "--output=short-iso",
    ]
    assert any("multi-user.target" in line for line in machine) and len(machine) == 2
    build = runtime.logs("coder", 50, LogScope.BUILD)
    assert any("building" in line for line in build), "nixos-container's output is the build scope"
    assert len(journal_calls(record)) == 2, "the build log is our own file, not the journal"


async def test_a_unit_outside_the_allow_list_is_refused_before_journalctl_runs(
    layout: StateLayout, repo: MetaRepo, nixos: tuple[NixosRuntime, Path]
) -> None:
    runtime, record = nixos
    add(repo, "coder")
    rec = make(layout, runtime)
    try:
        await rec.apply_once()
    finally:
        rec.store.close()
    for scope in ("sshd.service", "hive-harness.service", "-u sshd", ""):
        with pytest.raises(
            UserError, match=r"no .* log on the nixos runtime; choose one of: harness, machine, build"
        ):
            runtime.logs("coder", 10, scope)  # type: ignore[arg-type]
    with pytest.raises(UserError, match="not a valid name"):
        runtime.logs("--root=/", 10)
    with pytest.raises(NotFoundError, match="never created its container"):
        runtime.logs("ghost", 10)  # not one of ours: -M would read any container of the host
    assert journal_calls(record) == []
    (record.parent / "containers" / "coder" / "status").write_text("down")
    with pytest.raises(TemporaryError, match=r"No machine 'coder' known.*is it running\?.*--scope build"):
        runtime.logs("coder", 10)


async def test_the_line_cap_holds_and_long_lines_are_cut(
    layout: StateLayout, repo: MetaRepo, nixos: tuple[NixosRuntime, Path]
) -> None:
    runtime, record = nixos
    add(repo, "coder")
    rec = make(layout, runtime)
    try:
        await rec.apply_once()
    finally:
        rec.store.close()
    entries = [{"unit": "hive-harness.service", "message": f"line {i}"} for i in range(MAX_LOG_LINES + 700)]
    entries.append({"unit": "hive-harness.service", "message": "x" * 100_000})
    with open(journal(record, "coder"), "a") as out:
        out.writelines(json.dumps(e) + "\n" for e in entries)
    lines = runtime.logs("coder", 10**9)
    assert journal_calls(record)[-1][5:7] == ["-n", str(MAX_LOG_LINES)]
    assert len(lines) == MAX_LOG_LINES
    assert lines[-2].endswith(f"line {MAX_LOG_LINES + 699}")
    assert len(lines[-1]) < 5000 and lines[-1].endswith("…(cut)")


def test_hive_logs_takes_a_scope_and_names_the_ones_there_are(hive, state_dir: Path) -> None:
    assert hive("init").returncode == 0
    done = hive("logs", "manager", "--scope", "machine")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "no 'machine' log on the local runtime; choose one of: harness" in done.stderr
    refused = hive("logs", "manager", "--runtime", "nixos", "--scope", "sshd.service")
    assert refused.returncode == 1
    assert (
        "no 'sshd.service' log on the nixos runtime; choose one of: harness, machine, build" in refused.stderr
    )
