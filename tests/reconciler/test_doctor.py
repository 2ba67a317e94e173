"""`hive doctor`: all ✓ on a healthy machine; each broken part gives its ✗ with the fix, exit 1, no traceback.

Real: `hive serve` (local runtime, the fake agent as the manager in a real
bubblewrap sandbox, the dashboard on a port), `hive doctor` as a process of
its own, bubblewrap and the claude CLI from node_modules (doctor runs it in a
throwaway sandbox), a socket that holds the port. Broken on purpose: a PATH
without bwrap (a directory of links to the other tools), HIVE_CLAUDE_BIN at a
file that is no program, a port another socket listens on; a daemon stopped
while its agent runs on. Stand-in: a daemon older than the version field (an
admin socket answering `status` the old way) — an old build cannot run here.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from desired.bootstrap import init_meta_repo
from hive_kit.paths import StateLayout
from reconciler.runtime import procs
from tests.conftest import subprocess_env
from tests.reconciler.conftest import AGENT_COMMAND, REPO_ROOT, TESTER, kill_all
from tests.web.conftest import running_hive_serve

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.geteuid() != 0 or not shutil.which("bwrap"), reason="needs root and bwrap to build a sandbox"
    ),
    pytest.mark.skipif(
        not (REPO_ROOT / "node_modules" / ".bin" / "claude").exists(),
        reason="run `npm install` at the repo root for the claude CLI",
    ),
]

CHECKS = [
    "sandbox",
    "claude CLI",
    "claude in a sandbox",
    "credentials",
    "dashboard port",
    "state dir",
    "git",
    "nix-instantiate",
    "daemon",
    "orphans",
]


@dataclass
class Served:
    layout: StateLayout
    port: int


@dataclass
class Doctor:
    code: int
    out: str
    err: str

    @property
    def checks(self) -> dict[str, dict[str, Any]]:
        return {c["check"]: c for c in json.loads(self.out)}


def doctor(layout: StateLayout, port: int, *args: str, **env: str) -> Doctor:
    environ = subprocess_env(HIVE_WEB_PORT=str(port), ANTHROPIC_API_KEY="sk-doctor-test", **env)
    if "HIVE_CLAUDE_BIN" not in env:
        environ.pop("HIVE_CLAUDE_BIN", None)
    done = subprocess.run(
        [sys.executable, "-m", "hive", "doctor", "--state-dir", str(layout.root), *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    return Doctor(done.returncode, done.stdout, done.stderr)


def new_layout(tag: str) -> StateLayout:
    layout = StateLayout(REPO_ROOT / "test-artifacts" / f"doctor-{tag}-{uuid.uuid4().hex[:8]}")
    init_meta_repo(layout.meta, TESTER)
    return layout


def wait_for(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def manager_running(layout: StateLayout) -> bool:
    return "manager" in procs.scan(procs.root_key(layout.root))


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    layout = new_layout("ok")
    with running_hive_serve(layout) as (_proc, url, _log):
        wait_for(lambda: manager_running(layout), what="the manager's sandbox")
        yield Served(layout, int(url.rsplit(":", 1)[1]))


def test_a_healthy_machine_is_all_ticks(served: Served) -> None:
    found = doctor(served.layout, served.port, "--json")
    checks = found.checks
    assert found.code == 0 and list(checks) == CHECKS, found.out
    assert all(c["ok"] and not c["fix"] for c in checks.values()), found.out
    assert "Claude Code" in checks["claude in a sandbox"]["detail"]
    assert "this state dir's hive serve" in checks["dashboard port"]["detail"], "our own dashboard holds it"
    assert "is running, version" in checks["daemon"]["detail"]
    assert checks["orphans"]["detail"] == "1 agent process(es), all the running daemon's"

    shown = doctor(served.layout, served.port)
    assert shown.code == 0 and shown.out.splitlines()[-1] == "all checks passed", shown.out
    assert all(line[0] in "✓–" for line in shown.out.splitlines()[:-1]), shown.out


def _path_without_bwrap(tmp_path: Path) -> str:
    """A PATH dir of links to every tool doctor asks PATH for, but bubblewrap."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("setpriv", "git", "nix-instantiate"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    return str(bin_dir)


def test_no_bubblewrap_on_path_is_a_cross_with_the_fix(served: Served, tmp_path: Path) -> None:
    found = doctor(served.layout, served.port, "--json", PATH=_path_without_bwrap(tmp_path))
    checks = found.checks
    assert found.code == 1
    box = checks["sandbox"]
    assert not box["ok"] and "bubblewrap (bwrap) is not installed" in box["detail"]
    assert "apt install bubblewrap" in box["fix"]
    assert checks["claude in a sandbox"]["detail"].startswith("not tried")
    assert [name for name, c in checks.items() if not c["ok"]] == ["sandbox"], found.out


@pytest.mark.parametrize("broken", ["not-a-program", "dangling-link"])
def test_a_broken_claude_binary_is_a_cross_with_the_fix(served: Served, tmp_path: Path, broken: str) -> None:
    claude = tmp_path / "claude"
    if broken == "not-a-program":
        claude.write_bytes(b"\x00\x01 this is no program\n")
        claude.chmod(0o755)
    else:
        claude.symlink_to(tmp_path / "gone" / "claude")
    found = doctor(served.layout, served.port, HIVE_CLAUDE_BIN=str(claude))
    assert found.code == 1
    lines = found.out.splitlines()
    at = next(i for i, ln in enumerate(lines) if ln.startswith("✗ claude CLI"))
    assert str(claude) in lines[at]
    assert ("--version failed" if broken == "not-a-program" else "is not a file") in lines[at]
    fix = lines[at + 1].strip()
    assert fix.startswith("fix: ") and "HIVE_CLAUDE_BIN" in fix, found.out
    assert found.err.strip() == ("error: 1 check(s) failed: claude CLI; each fix is in the report above"), (
        found.err
    )


def test_a_port_held_by_another_program_is_a_cross_with_the_fix(served: Served) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        found = doctor(served.layout, port, "--json")
    checks = found.checks
    assert found.code == 1
    assert checks["dashboard port"] == {
        "check": "dashboard port",
        "ok": False,
        "detail": f"127.0.0.1:{port} is taken by another program",
        "fix": f"stop it, or give the dashboard another port: `hive serve --web-port {port + 1}` "
        "(or HIVE_WEB_PORT)",
    }


def test_agents_left_by_a_stopped_daemon_are_orphans_with_the_fix() -> None:
    layout = new_layout("orphan")
    argv = [sys.executable, "-m", "hive", "serve", "--state-dir", str(layout.root)]
    env = subprocess_env(HIVE_AGENT_COMMAND=" ".join(AGENT_COMMAND))
    try:
        with (layout.root / "serve.log").open("ab") as log:
            proc = subprocess.Popen(
                argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        wait_for(lambda: manager_running(layout), what="the manager's sandbox")
        proc.send_signal(signal.SIGTERM)  # agents outlive their daemon on purpose
        proc.wait(30)
        found = doctor(layout, 0, "--json")
        checks = found.checks
        assert found.code == 1 and not checks["daemon"]["ok"] and not checks["orphans"]["ok"]
        assert checks["daemon"]["fix"] == f"`hive serve --state-dir {layout.root}`"
        pid = procs.scan(procs.root_key(layout.root))["manager"]
        assert checks["orphans"]["detail"] == f"1 agent(s) run with no hive serve: manager (pid {pid})"
        assert checks["orphans"]["fix"].endswith(f"or end them: kill -- -{os.getpgid(pid)}")
        subprocess.run(checks["orphans"]["fix"].rpartition("or end them: ")[2], shell=True, check=True)
        wait_for(lambda: not manager_running(layout), what="the manager gone")
        assert doctor(layout, 0, "--json").checks["orphans"]["ok"], "the fix worked"
    finally:
        kill_all(layout)
        shutil.rmtree(layout.root, ignore_errors=True)


def test_a_daemon_older_than_this_cli_is_a_cross(tmp_path: Path) -> None:
    layout = StateLayout(tmp_path / "state")
    init_meta_repo(layout.meta, TESTER)
    layout.run.mkdir(parents=True, exist_ok=True)
    (layout.run / "hive.lock").write_text("4242\n")
    old_status = {"ok": True, "agents": ["manager"], "unread": {}, "open_questions": 0}
    old_status |= {"pending_reminders": 0, "last_seq": 0, "revision": "0" * 40, "harnesses": {}}
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(layout.admin_socket))
        server.listen()

        def answer() -> None:
            conn, _ = server.accept()
            with conn, conn.makefile("rwb") as stream:
                stream.readline()
                stream.write(json.dumps(old_status).encode() + b"\n")

        threading.Thread(target=answer, daemon=True).start()
        found = doctor(layout, 0, "--json")
    daemon = found.checks["daemon"]
    assert found.code == 1 and not daemon["ok"]
    assert daemon["detail"].startswith("hive serve (pid 4242) runs version an older one (it does not say)")
    assert daemon["fix"].startswith("restart hive serve so it runs the installed version")
