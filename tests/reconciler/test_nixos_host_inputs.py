"""NixOS containers follow the host: the model gateway, and a rebuild when the host's Nix pins change.

Replaced, and why: there is no NixOS host here, so `nixos-container` and
`journalctl` are the recording stand-ins of tests/seams/nixos_host.py (they
write and read the container's conf as the real ones do, and record the
systemd-nspawn flags its start would get), and the pins name store paths that
do not exist. Real: the loop, the deploy store, the meta repo, the rendered
meta flake (evaluated by the real `nix-instantiate` against the stand-in
nixpkgs), the container conf (evaluated by `nix-instantiate`), the `hive` CLI,
and the local runtime's agent processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from desired.repo import MetaRepo
from desired.schema import agent_fingerprint
from hive_kit.paths import StateLayout
from reconciler.loop import Reconciler
from reconciler.model import ActionKind
from reconciler.plan import plan
from reconciler.readonly import dry_run, world
from reconciler.render import render_plan
from reconciler.runtime.local import LocalRuntime
from reconciler.runtime.nixos import NixosRuntime
from reconciler.saved import save, stale_reasons
from tests.nixos.test_flake import evaluate, meta
from tests.reconciler.conftest import add
from tests.reconciler.test_nixos_runtime import calls, make, nspawn
from tests.seams import nixos_host

KEY = "sk-ant-api03-stays-on-the-host-" + "q" * 16
NEW_HYPERHIVE = "path:/nix/store/" + "3" * 32 + "-hyperhive-source"


@pytest.fixture
def nixos(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layout: StateLayout) -> tuple[NixosRuntime, Path]:
    record = nixos_host.install(tmp_path, monkeypatch)
    for var in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN", "HIVE_MODEL_GATEWAY"):
        monkeypatch.delenv(var, raising=False)
    return NixosRuntime(layout, conf_dir=tmp_path / "conf"), record


def harness_env(layout: StateLayout, name: str) -> dict[str, str]:
    """The hive-harness unit's environment in ``name``'s container, from the rendered meta flake."""
    select = f"flake.nixosConfigurations.{name}.toplevel.systemd.services.hive-harness.environment"
    env: dict[str, str] = evaluate(select, meta(layout.root / "nix"))
    return env


def files_holding(root: Path, text: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and text in p.read_text(errors="replace")]


# --- the model gateway ------------------------------------------------------------------------


async def test_with_a_host_key_the_container_gets_the_gateway_socket_and_never_the_key(
    layout: StateLayout, repo: MetaRepo, nixos: tuple[NixosRuntime, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime, record = nixos
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)  # what services.hyperhive.environmentFile gives the daemon
    add(repo, "coder")
    rec = make(layout, runtime)
    try:
        await rec.apply_once()
    finally:
        rec.store.close()
    env = harness_env(layout, "coder")
    assert env["HIVE_MODEL_SOCKET"] == "/run/hive/model.sock"
    assert KEY not in json.dumps(env) and "ANTHROPIC_API_KEY" not in env
    # /run/hive inside is the agent's run dir, where the daemon serves its model.sock
    run_dir = layout.model_socket_for("coder", is_manager=False).parent
    assert f"--bind={run_dir}:/run/hive" in nspawn(record, "coder")
    assert not [f for f in nspawn(record, "coder") if KEY in f]
    binds = [f.split("=", 1)[1].split(":")[0] for f in nspawn(record, "coder") if f.startswith("--bind")]
    assert str(layout.root) not in binds and str(layout.secrets) not in binds, binds
    leaks = files_holding(layout.root, KEY) + files_holding(runtime.conf_dir, KEY)
    assert leaks == [], "the key must stay in the daemon's environment"


@pytest.mark.parametrize("host", [{}, {"ANTHROPIC_API_KEY": KEY, "HIVE_MODEL_GATEWAY": "off"}])
async def test_without_a_key_or_with_the_switch_off_the_container_gets_no_gateway(
    layout: StateLayout,
    repo: MetaRepo,
    nixos: tuple[NixosRuntime, Path],
    monkeypatch: pytest.MonkeyPatch,
    host: dict[str, str],
) -> None:
    runtime, _ = nixos
    for var, value in host.items():
        monkeypatch.setenv(var, value)
    add(repo, "coder")
    rec = make(layout, runtime)
    try:
        await rec.apply_once()
    finally:
        rec.store.close()
    env = harness_env(layout, "coder")
    assert "HIVE_MODEL_SOCKET" not in env
    assert KEY not in json.dumps(env), "with the gateway off the key is still not put in a container"
    assert files_holding(layout.root / "nix", KEY) == []


# --- the host's pins --------------------------------------------------------------------------


async def test_new_host_pins_rebuild_every_container_without_touching_fingerprints(
    layout: StateLayout, repo: MetaRepo, nixos: tuple[NixosRuntime, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime, record = nixos
    add(repo, "coder")
    rec = make(layout, runtime)
    try:
        await rec.apply_once()
        assert (await rec.pass_once()).empty
        before = {n: r.fingerprint for n, r in rec.store.applied().items()}

        old_pin = os.environ["HIVE_HYPERHIVE_INPUT"]
        monkeypatch.setenv("HIVE_HYPERHIVE_INPUT", NEW_HYPERHIVE)  # nixos-rebuild switch, daemon restarted
        preview = await dry_run(layout, runtime)
        reason = "host's nix inputs changed (hyperhive 00000000 → 33333333)"
        assert [(a.name, a.kind, a.reason) for a in preview.actions] == [
            ("coder", ActionKind.UPDATE, reason),
            ("manager", ActionKind.UPDATE, reason),
        ]
        assert f"  ~ coder: update ({reason})" in render_plan(preview)
        assert f'      ~ host.hyperhive: "{old_pin}" → "{NEW_HYPERHIVE}"' in render_plan(preview)
        state = repo.load().state
        assert all(
            a.fingerprint == agent_fingerprint(state, a.name) == before[a.name] for a in preview.actions
        )

        await rec.apply_once()
        flake = f"{layout.root / 'nix'}#coder"
        assert calls(record, "coder")[-1] == ["update", "coder", "--flake", flake]
        assert calls(record, "manager")[-1] == [
            "update",
            "manager",
            "--flake",
            f"{layout.root / 'nix'}#manager",
        ]
        assert f'inputs.hyperhive.url = "{NEW_HYPERHIVE}"' in (layout.root / "nix" / "flake.nix").read_text()
        assert {n: r.fingerprint for n, r in rec.store.applied().items()} == before
        assert (await rec.pass_once()).empty, "rebuilt once, then settled"
    finally:
        rec.store.close()


async def test_a_key_added_on_the_host_rebuilds_onto_the_gateway(
    layout: StateLayout, repo: MetaRepo, nixos: tuple[NixosRuntime, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime, record = nixos
    rec = make(layout, runtime)
    try:
        await rec.apply_once()
        assert "HIVE_MODEL_SOCKET" not in harness_env(layout, "manager")
        layout.secrets.write_text(f"ANTHROPIC_API_KEY={KEY}\n")
        result = await rec.apply_once()
        assert [(a.name, a.reason) for a in result.actions] == [
            ("manager", "host's nix inputs changed (model gateway off → on)")
        ]
        assert calls(record, "manager")[-1][0] == "update"
        assert harness_env(layout, "manager")["HIVE_MODEL_SOCKET"] == "/run/hive/model.sock"
    finally:
        rec.store.close()


async def test_a_container_built_before_the_record_is_rebuilt_once(
    layout: StateLayout, repo: MetaRepo, nixos: tuple[NixosRuntime, Path]
) -> None:
    runtime, _ = nixos
    rec = make(layout, runtime)
    try:
        await rec.apply_once()
        (layout.agent_build("manager") / "host-inputs.json").unlink()  # as an older hyperhive left it
        result = await rec.apply_once()
        assert result.actions[0].reason.startswith("host's nix inputs not recorded")
        assert (await rec.pass_once()).empty
    finally:
        rec.store.close()


async def test_hive_reconcile_dry_run_from_roots_shell_shows_the_rebuild(
    layout: StateLayout, repo: MetaRepo, nixos: tuple[NixosRuntime, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """root's shell has neither the pins nor the environmentFile's key: the CLI goes by what the
    daemon's last pass saw (``<state>/host-inputs.json``)."""
    runtime, _ = nixos
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    rec = make(layout, runtime)
    try:
        await rec.apply_once()
    finally:
        rec.store.close()
    monkeypatch.setenv("HIVE_HYPERHIVE_INPUT", NEW_HYPERHIVE)  # nixos-rebuild switch restarts the daemon,
    runtime.tidy()  # whose every pass starts here
    shell = {k: v for k, v in os.environ.items() if not k.startswith(("HIVE_", "ANTHROPIC_"))}
    hive = Path(sys.executable).with_name("hive")
    args = [str(hive), "reconcile", "--dry-run", "--state-dir", str(layout.root), "--runtime", "nixos"]
    done = subprocess.run(args, capture_output=True, text=True, env=shell, timeout=120, check=False)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "~ manager: update (host's nix inputs changed (hyperhive 00000000 → 33333333))" in done.stdout
    assert "model gateway" not in done.stdout, "the key the shell lacks is not read as the gateway going off"


async def test_a_rebuild_stalled_on_broken_pins_is_tried_again_when_the_pins_move(
    layout: StateLayout, repo: MetaRepo, nixos: tuple[NixosRuntime, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime, record = nixos
    rec = make(layout, runtime)
    try:
        await rec.apply_once()
        monkeypatch.setenv("HIVE_HYPERHIVE_INPUT", NEW_HYPERHIVE)
        monkeypatch.setenv("NIXOS_CONTAINER_BAD_INPUT", NEW_HYPERHIVE)  # this hyperhive does not build
        await rec.apply_once()
        assert rec.retry["manager"].stalled and "failed (input" in rec.retry["manager"].error
        updates = len(calls(record, "manager"))
        await rec.apply_once()
        assert len(calls(record, "manager")) == updates, "a permanent failure is not retried as it is"

        fixed = "path:/nix/store/" + "5" * 32 + "-hyperhive-source"
        monkeypatch.setenv("HIVE_HYPERHIVE_INPUT", fixed)  # the operator bumps the pin again
        result = await rec.apply_once()
        assert result.actions[0].reason == "host's nix inputs changed (hyperhive 00000000 → 55555555)"
        assert calls(record, "manager")[-1][0] == "update" and "manager" not in rec.retry
        assert (await rec.pass_once()).empty
    finally:
        rec.store.close()


async def test_a_plan_saved_before_the_pins_moved_is_refused_as_stale(
    layout: StateLayout, repo: MetaRepo, nixos: tuple[NixosRuntime, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime, _ = nixos
    rec = make(layout, runtime)
    try:
        await rec.apply_once()
    finally:
        rec.store.close()
    w = await world(layout, runtime)
    saved = save(
        layout.root.parent / f"{layout.root.name}.plan",
        w,
        plan(w.snap.state, w.snap.revision, w.observed, w.applied),
    )
    assert stale_reasons(saved, w) == []
    monkeypatch.setenv("HIVE_HYPERHIVE_INPUT", NEW_HYPERHIVE)
    reasons = stale_reasons(saved, await world(layout, runtime))
    assert reasons and "host's nix inputs changed (hyperhive 00000000 → 33333333)" in reasons[0]


# --- the local runtime ------------------------------------------------------------------------


async def test_the_local_runtime_ignores_nix_pins(
    layout: StateLayout, repo: MetaRepo, runtime: LocalRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A daemon upgrade changes the pins; no local agent restarts for it."""
    add(repo, "coder")
    rec = Reconciler(layout, runtime)
    try:
        await rec.apply_once()
        pids = {n: o.pid for n, o in (await runtime.list()).items()}
        monkeypatch.setenv("HIVE_HYPERHIVE_INPUT", NEW_HYPERHIVE)
        monkeypatch.setenv("HIVE_NIXPKGS_INPUT", "path:/nix/store/" + "4" * 32 + "-source")
        assert not [o.rebuild for o in (await runtime.list()).values() if o.rebuild]
        assert (await rec.pass_once()).empty
        assert {n: o.pid for n, o in (await runtime.list()).items()} == pids
    finally:
        rec.store.close()
