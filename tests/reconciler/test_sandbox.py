"""The local runtime's sandbox, for real: own uid, own state dir, no silent downgrade.

Real bubblewrap, real setpriv, the fake agent (tests/seams). The hostile
probes from inside a running sandbox (nsenter + setpriv) are in
tests/security/test_sandbox_hostile.py; here is what the runtime sets up.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from desired.repo import MetaRepo
from hive_core.identities import AgentIds, Identities, UidRange
from hive_kit.paths import StateLayout
from reconciler.loop import LoopSettings, Reconciler
from reconciler.model import ContainerState
from reconciler.runtime import hostview
from reconciler.runtime.local import LocalRuntime
from reconciler.runtime.ownership import own_state_dir
from reconciler.status import read_statuses
from tests.conftest import kill_sandboxes_under, subprocess_env
from tests.reconciler.conftest import AGENT_COMMAND, add, remove
from tests.reconciler.helpers import eventually
from tests.seams.hello_host import HelloHost

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox needs a root daemon")


def _history(layout: StateLayout, name: str) -> list[str]:
    from reconciler.store import deploys_path, open_deploys

    store = open_deploys(deploys_path(layout.root))
    try:
        return [h.result for h in store.history(name)]
    finally:
        store.close()


async def _apply(layout: StateLayout, runtime: LocalRuntime, purge: tuple[str, ...] = ()) -> Reconciler:
    host = HelloHost(layout)
    rec = Reconciler(layout, runtime, health=host, sockets=host, settings=LoopSettings(health_timeout=10))
    try:
        await rec.apply_once(purge)
    finally:
        rec.store.close()
        await host.close()
    return rec


@needs_root
async def test_an_agent_cannot_see_another_agents_state_or_sockets(
    layout: StateLayout, repo: MetaRepo, runtime: LocalRuntime
) -> None:
    assert runtime.bwrap is not None, "bubblewrap must be installed for this test"
    beta_state = layout.agent_state("beta")
    targets = ",".join([str(beta_state), str(layout.root), str(layout.run / "agents"), "/state", "/run/hive"])
    add(repo, "beta")
    add(repo, "alpha", description=f"fake:probe={targets}")
    await _apply(layout, runtime)
    assert all(h == "ok" for name in ("alpha", "beta") for h in _history(layout, name))
    probe = layout.agent_state("alpha") / "probe.txt"
    await eventually(probe.exists, what="alpha's probe result")
    lines = probe.read_text().splitlines()
    assert (beta_state / "launched.json").exists(), "beta's state is there on the host"
    assert lines[0] == f"DENIED {beta_state}: FileNotFoundError", (
        "no host path of the state root exists inside"
    )
    assert lines[1] == f"DENIED {layout.root}: FileNotFoundError"
    assert lines[2] == f"DENIED {layout.run / 'agents'}: FileNotFoundError"
    assert lines[3].startswith("READ /state:") and "launched.json" in lines[3]
    assert lines[4] == "READ /run/hive: ['hive.sock', 'page']", "only its own socket dir"
    launched = json.loads((layout.agent_state("alpha") / "launched.json").read_text())
    assert launched["name"] == "alpha"


@needs_root
async def test_each_agent_runs_as_its_own_sticky_uid_and_owns_its_state_dir(
    layout: StateLayout, repo: MetaRepo, runtime: LocalRuntime
) -> None:
    add(repo, "alpha")
    await _apply(layout, runtime)
    ids = Identities.open(layout.db)
    try:
        known = ids.known()
    finally:
        ids.close()
    assert set(known) == {"alpha", "manager"} and len({i.uid for i in known.values()}) == 2
    for name, mine in known.items():
        assert mine.uid in UidRange.parse("60100-60999") and mine.gid == mine.uid
        state = layout.agent_state(name).stat()
        assert (state.st_uid, state.st_gid, stat.S_IMODE(state.st_mode)) == (mine.uid, mine.gid, 0o700)
        home = (layout.agent_state(name) / "home").stat()
        assert (home.st_uid, stat.S_IMODE(home.st_mode)) == (mine.uid, 0o700)
        launched = layout.agent_state(name) / "launched.json"
        assert launched.stat().st_uid == mine.uid, "the agent wrote it as itself"
        run_dir = layout.socket_for(name, is_manager=name == "manager").parent.stat()
        assert (run_dir.st_uid, run_dir.st_gid, stat.S_IMODE(run_dir.st_mode)) == (0, mine.gid, 0o750)
        assert stat.S_IMODE(layout.agent_dir(name).stat().st_mode) == 0o700
        pid = (await runtime.list())[name].pid
        assert pid is not None and _uids_below(pid) == {mine.uid}
    # sticky: a restart keeps the same uid
    await runtime.stop("alpha", lambda _line: None)
    await _apply(layout, runtime)
    again = Identities.open(layout.db)
    try:
        assert again.lookup("alpha") == known["alpha"]
    finally:
        again.close()


def _uids_below(outer: int) -> set[int]:
    """Real uids of every process in the sandbox but bubblewrap itself."""
    from reconciler.runtime import procs

    out = set()
    for pid in procs.descendants(outer):
        status = Path(f"/proc/{pid}/status").read_text()
        if "bwrap" in Path(f"/proc/{pid}/comm").read_text():
            continue
        out.add(int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1]))
    return out


@needs_root
async def test_a_purged_agent_gives_its_uid_back(
    layout: StateLayout, repo: MetaRepo, runtime: LocalRuntime
) -> None:
    add(repo, "temp")
    await _apply(layout, runtime)
    ids = Identities.open(layout.db)
    try:
        assert ids.lookup("temp") is not None
        remove(repo, "temp")
        await _apply(layout, runtime)
        assert ids.lookup("temp") is not None, "destroy keeps the state dir, so the uid stays"
        await _apply(layout, runtime, purge=("temp",))
        shutil.rmtree(layout.agent_socket("temp").parent)  # the daemon's socket set does this (HelloHost not)

        def released() -> bool:  # tidy runs every pass; here, until temp's last process is gone
            runtime.tidy()
            return ids.lookup("temp") is None

        await eventually(released, what="temp's uid to be released")
        assert ids.lookup("manager") is not None
    finally:
        ids.close()


def test_an_old_root_owned_state_dir_is_handed_over_without_following_links(tmp_path: Path) -> None:
    state = tmp_path / "state"
    (state / "notes").mkdir(parents=True)
    (state / "notes" / "a.md").write_text("x")
    outside = tmp_path / "outside"
    outside.write_text("host file")
    (state / "link").symlink_to(outside)
    os.link(outside, state / "hardlink")
    ids = AgentIds(60777, 60777)
    if os.geteuid() != 0:
        pytest.skip("chown needs root")
    own_state_dir(state, ids)
    for path in (state, state / "notes", state / "notes" / "a.md", state / "home"):
        assert path.lstat().st_uid == 60777, path
    assert (state / "link").lstat().st_uid == 60777 and outside.stat().st_uid == 0, "the link, not its target"
    assert (state / "hardlink").stat().st_uid == 0, "a file with two links is never given away"
    (state / "home").rmdir()
    (state / "home").symlink_to("/etc")
    own_state_dir(state, ids)  # an agent's link at home/ is left alone, never followed
    assert Path("/etc").stat().st_uid == 0


async def test_without_bubblewrap_agents_refuse_to_start_and_say_why(
    layout: StateLayout,
    repo: MetaRepo,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH where bwrap cannot be found
    with caplog.at_level(logging.ERROR):
        runtime = LocalRuntime(layout, AGENT_COMMAND, stop_grace=2.0)
    assert runtime.bwrap is None and runtime.refusal is not None
    assert "bubblewrap (bwrap) is not installed" in caplog.text and "--insecure-sandbox" in caplog.text
    rec = Reconciler(layout, runtime, settings=LoopSettings(health_timeout=10))
    try:
        await rec.apply_once()
        statuses = {s.name: s for s in read_statuses(rec.store)}
    finally:
        rec.store.close()
    assert (
        "manager" not in await runtime.list()
        or (await runtime.list())["manager"].state is not ContainerState.RUNNING
    )
    stalled = statuses["manager"].condition("Stalled")
    assert stalled.status and stalled.reason == "PermanentError"
    assert (
        "bubblewrap (bwrap) is not installed" in stalled.message
        and "apt install bubblewrap" in stalled.message
    )
    assert "--insecure-sandbox" in stalled.message


@needs_root
@pytest.mark.skipif(
    not shutil.which("bwrap") or not shutil.which("setpriv"), reason="needs bwrap and setpriv"
)
def test_without_namespaces_agents_refuse_to_start_and_name_the_fix(tmp_path: Path) -> None:
    """A host where namespaces cannot be made (a container without CAP_SYS_ADMIN), for real: the
    `hive` CLI runs as root with CAP_SYS_ADMIN dropped from its bounding set (`setpriv`), so the real
    bubblewrap's unshare fails as it would there. Nothing starts unsandboxed."""
    hive = Path(sys.executable).parent / "hive"
    env = subprocess_env()
    state = tmp_path / "state"
    subprocess.run([hive, "init", "--state-dir", state], env=env, check=True, capture_output=True, timeout=60)
    no_sys_admin = ["setpriv", "--bounding-set=-sys_admin", "--inh-caps=-sys_admin", "--"]
    done = subprocess.run(
        [*no_sys_admin, hive, "reconcile", "--state-dir", state],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    printed = " ".join((done.stdout + done.stderr).split())  # rich wraps at the terminal's width
    assert done.returncode == 1 and "Traceback" not in printed, printed
    assert "manager: failed: agent manager cannot start: no sandbox on this host" in printed
    assert "bwrap cannot create network and pid namespaces here" in printed
    assert "give it CAP_SYS_ADMIN" in printed and "--insecure-sandbox" in printed
    assert not kill_sandboxes_under(tmp_path), "no agent was started anyway"
    shown = subprocess.run(
        [hive, "status", "--json", "--state-dir", state],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    [manager] = json.loads(shown.stdout)["agents"]
    stalled = next(c for c in manager["conditions"] if c["type"] == "Stalled")
    assert stalled["status"] and stalled["reason"] == "PermanentError", "held until desired state changes"
    assert "bwrap cannot create network and pid namespaces" in stalled["message"]


async def test_a_daemon_that_is_not_root_refuses_too(
    layout: StateLayout, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hostview.os, "geteuid", lambda: 1000)
    runtime = LocalRuntime(layout, AGENT_COMMAND)
    assert runtime.refusal is not None and "runs as uid 1000, not root" in runtime.refusal


async def test_insecure_sandbox_runs_them_unsandboxed_and_says_so_in_every_status(
    layout: StateLayout,
    repo: MetaRepo,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with caplog.at_level(logging.INFO):
        runtime = LocalRuntime(layout, AGENT_COMMAND, insecure=True, stop_grace=2.0)
        assert runtime.insecure_reason is not None and "WITHOUT a sandbox" in runtime.insecure_reason
        assert "WARNING: agents run WITHOUT a sandbox" in caplog.text
        rec = Reconciler(layout, runtime, settings=LoopSettings(health_timeout=10))
        try:
            await rec.apply_once()
            statuses = {s.name: s for s in read_statuses(rec.store)}
        finally:
            rec.store.close()
    assert (await runtime.list())["manager"].state is ContainerState.RUNNING
    ready = statuses["manager"].condition("Ready")
    assert ready.status and "WARNING: agents run WITHOUT a sandbox" in ready.message
    assert "agent manager: started pid" in caplog.text and "UNSANDBOXED" in caplog.text


@needs_root
def test_a_program_under_tmp_still_runs_inside_the_sandbox(tmp_path: Path) -> None:
    """A checkout or venv under /tmp (CI clones live there) is bound over the private /tmp."""
    from reconciler.runtime.sandbox import AgentBox, bwrap_argv, group_text, passwd_text

    ids = AgentIds(60998, 60998)
    support = hostview.support(ids)
    assert support.ok and support.bwrap and support.setpriv, support.problem
    app = tmp_path / "checkout" / "bin"
    app.mkdir(parents=True)
    script = app / "agent.sh"
    script.write_text("#!/bin/sh\necho inside $(id -u); ls /state; ls " + str(tmp_path / "root") + "\n")
    script.chmod(0o755)
    tmp_path.chmod(0o755)
    root = tmp_path / "root"
    state = root / "agents" / "a" / "state"
    state.parent.mkdir(parents=True)
    own_state_dir(state, ids)
    build = root / "build"
    build.mkdir()
    (build / "agent.json").write_text("{}")
    (build / "passwd").write_text(passwd_text("a", ids))
    (build / "group").write_text(group_text("a", ids))
    (tmp_path / "sock").mkdir()
    host, _claude = hostview.scan([str(script)], os.environ, support.setpriv)
    box = AgentBox(
        "a", ids, state, tmp_path / "sock", build / "agent.json", build / "passwd", build / "group"
    )
    argv = bwrap_argv(support.bwrap, host, box, [str(script)])
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert out.stdout.split()[:3] == ["inside", "60998", "home"], out.stderr
    assert "No such file or directory" in out.stderr, "the state root does not exist inside"


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
