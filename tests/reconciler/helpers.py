"""Small helpers for loop tests: wait for a condition, find the agent process inside a sandbox."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

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
