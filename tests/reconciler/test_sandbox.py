"""Bubblewrap isolation, tried from inside a real sandbox, and the fallback without bubblewrap."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from desired.repo import MetaRepo
from hive_kit.paths import StateLayout
from reconciler.loop import LoopSettings, Reconciler
from reconciler.model import ContainerState
from reconciler.runtime.local import LocalRuntime
from tests.reconciler.conftest import AGENT_COMMAND, add
from tests.reconciler.helpers import eventually
from tests.seams.hello_host import HelloHost


async def test_an_agent_cannot_read_another_agents_state_or_sockets(
    layout: StateLayout, repo: MetaRepo, runtime: LocalRuntime
) -> None:
    assert runtime.bwrap is not None, "bubblewrap must be installed for this test"
    beta_state = layout.agent_state("beta")
    targets = ",".join([str(beta_state), str(layout.root), str(layout.run / "agents"), "/state", "/run/hive"])
    add(repo, "beta")
    add(repo, "alpha", description=f"fake:probe={targets}")
    host = HelloHost(layout)
    rec = Reconciler(layout, runtime, health=host, sockets=host, settings=LoopSettings(health_timeout=10))
    try:
        result = await rec.apply_once()
    finally:
        rec.store.close()
        await host.close()
    assert not [h for a in result.actions for h in rec_history(layout, a.name) if h != "ok"]
    probe = layout.agent_state("alpha") / "probe.txt"
    await eventually(probe.exists, what="alpha's probe result")
    lines = probe.read_text().splitlines()
    assert (beta_state / "launched.json").exists(), "beta's state is there on the host"
    assert lines[0].startswith(f"DENIED {beta_state}")
    assert lines[1] == f"READ {layout.root}: []", "the state root is an empty tmpfs inside"
    assert lines[2].startswith(f"DENIED {layout.run / 'agents'}")
    assert lines[3].startswith("READ /state:") and "launched.json" in lines[3]
    assert lines[4] == "READ /run/hive: ['hive.sock']", "only its own socket"
    launched = json.loads((layout.agent_state("alpha") / "launched.json").read_text())
    assert launched["name"] == "alpha"


def rec_history(layout: StateLayout, name: str) -> list[str]:
    from reconciler.store import deploys_path, open_deploys

    store = open_deploys(deploys_path(layout.root))
    try:
        return [h.result for h in store.history(name)]
    finally:
        store.close()


async def test_without_bubblewrap_agents_run_unsandboxed_with_a_loud_warning(
    layout: StateLayout,
    repo: MetaRepo,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH where bwrap cannot be found
    with caplog.at_level(logging.WARNING):
        runtime = LocalRuntime(layout, AGENT_COMMAND, stop_grace=2.0)
    assert runtime.bwrap is None
    rec = Reconciler(layout, runtime, settings=LoopSettings(health_timeout=10))
    try:
        await rec.apply_once()
    finally:
        rec.store.close()
    assert (await runtime.list())["manager"].state is ContainerState.RUNNING
    launched = json.loads((layout.agent_state("manager") / "launched.json").read_text())
    assert launched["role"] == "manager"
    assert "UNSANDBOXED" in caplog.text
    assert any("fake agent manager" in line for line in runtime.logs("manager"))


def test_a_program_under_tmp_still_runs_inside_the_sandbox(tmp_path: Path) -> None:
    """A checkout or venv under /tmp (CI clones live there) must not vanish behind the fresh /tmp.

    Real bubblewrap: a script under /tmp is run as the agent's command, with the
    state root (also under /tmp) hidden as usual.
    """
    import shutil
    import subprocess

    from reconciler.runtime.sandbox import bwrap_argv, code_paths, list_dir

    bwrap = shutil.which("bwrap")
    assert bwrap is not None, "bubblewrap must be installed for this test"
    app = tmp_path / "checkout" / "bin"
    app.mkdir(parents=True)
    script = app / "agent.sh"
    script.write_text("#!/bin/sh\necho inside; ls /state; ls " + str(tmp_path / "root") + "\n")
    script.chmod(0o755)
    root = tmp_path / "root"
    (root / "agents" / "a" / "state").mkdir(parents=True)
    (root / "agents" / "b" / "state" / "secret").mkdir(parents=True)
    config = root / "agent.json"
    config.write_text("{}")
    (tmp_path / "sock").mkdir()
    code = code_paths([str(script)])
    assert app in code and all(p.parts[1] in ("tmp", "run") for p in code)
    argv = bwrap_argv(
        bwrap=bwrap,
        name="a",
        state_root=root,
        state_dir=root / "agents" / "a" / "state",
        config_file=config,
        socket_dir=tmp_path / "sock",
        command=[str(script)],
        top=list_dir(Path("/"), frozenset({"proc", "dev", "tmp", "run", "state", "lost+found", "etc"})),
        etc=list_dir(Path("/etc"), frozenset({"hyperhive"})),
        code=code,
    )
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["inside"], "the script ran; /state is its own (empty); the root is hidden"


async def test_the_agent_log_is_bounded(layout: StateLayout, repo: MetaRepo) -> None:
    runtime = LocalRuntime(layout, AGENT_COMMAND, log_max=4096, stop_grace=2.0)
    rec = Reconciler(layout, runtime, settings=LoopSettings(health_timeout=10))
    try:
        await rec.apply_once()
    finally:
        rec.store.close()
    log = layout.agent_dir("manager") / "agent.log"
    with open(log, "a") as out:  # as if the agent had been chatty
        out.write("chatter\n" * 1000)
    runtime.tidy()
    assert log.stat().st_size == 0
    kept = log.with_name("agent.log.1").read_text()
    assert kept.startswith("--- ") and kept.endswith("chatter\n")
    assert runtime.logs("manager", 2) == ["chatter", "chatter"]
    runtime.tidy()
    assert log.with_name("agent.log.1").read_text() == kept, "a small log is left alone"
