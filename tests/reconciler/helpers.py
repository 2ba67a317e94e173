"""Small helpers for loop tests: wait for a condition, find the agent process inside a sandbox."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path

from hive_kit.paths import StateLayout
from reconciler.runtime import procs


async def eventually(check: Callable[[], object], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def agent_process(outer_pid: int) -> int:
    """The fake agent's own pid inside the sandbox (what a user would `kill -9`)."""
    for pid in [outer_pid, *procs.descendants(outer_pid)]:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"fake_agent.py" in cmdline and b"bwrap" not in cmdline.split(b"\0")[0]:
            return pid
    raise AssertionError(f"no fake agent process under pid {outer_pid}")


def count_agent_processes(layout: StateLayout) -> dict[str, int]:
    """How many separate sandboxes (outermost marked processes) run each agent."""
    key = procs.root_key(layout.root) + "/"
    counts: dict[str, int] = {}
    marked = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        marker = procs._marker_of(pid)
        if marker and marker.startswith(key):
            marked[pid] = marker
    for pid, marker in marked.items():
        ppid, state = procs._ppid_and_state(pid)
        if state != "Z" and marked.get(ppid) != marker:
            counts[marker[len(key) :]] = counts.get(marker[len(key) :], 0) + 1
    return counts
