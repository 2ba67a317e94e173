"""`hive serve` runs the reconciler next to the host core: real daemon, real sockets, real hellos.

The agent program is the fake agent (tests/seams/fake_agent.py), which says
hello on the socket the daemon opened for it; the health gate waits on the
core's registry of hellos.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from hive_kit.paths import StateLayout
from tests.conftest import subprocess_env
from tests.reconciler.conftest import AGENT_COMMAND, kill_all

ENV = {"HIVE_AGENT_COMMAND": " ".join(AGENT_COMMAND), "HIVE_WEB_PORT": "0"}


def wait_until(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_hive_serve_converges_reacts_to_commits_and_reports_events(
    hive, state_dir: Path, tmp_path: Path
) -> None:
    assert hive("init").returncode == 0
    hive("agent", "add", "alpha")
    log = tmp_path / "serve.log"
    argv = [sys.executable, "-m", "hive", "serve", "--state-dir", str(state_dir)]
    with open(log, "wb") as out:
        daemon = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env=subprocess_env(**ENV), start_new_session=True
        )
    try:

        def ready(name: str, field: str = "reason", value: str = "Deployed") -> bool:
            done = hive("status", "--json", env=ENV)
            if done.returncode != 0:
                return False
            agents = {a["name"]: a for a in json.loads(done.stdout)["agents"]}
            agent = agents.get(name)
            return agent is not None and any(
                c["type"] == "Ready" and c[field] == value for c in agent["conditions"]
            )

        wait_until(lambda: ready("alpha") and ready("manager"), 40, "alpha and manager Ready")
        assert hive("reconcile", "--now").returncode == 0
        delegated = hive("reconcile", env=ENV)
        assert delegated.returncode == 0 and "asked the running daemon" in delegated.stdout

        hive("agent", "set", "alpha", "model", "opus")

        def rebuilt() -> bool:
            events = hive("events", "--json").stdout
            return '"agent_rebuilt"' in events and '"alpha"' in events

        wait_until(rebuilt, 40, "alpha rebuilt after the commit")
        events = hive("events", "--json").stdout
        assert '"harness_hello"' in events
        assert hive("reconcile", "--dry-run", env=ENV).returncode == 0
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=20)
        kill_all(StateLayout(state_dir.absolute()))
