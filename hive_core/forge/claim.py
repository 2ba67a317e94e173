"""One sender per state dir: whoever sends the forge outbox holds an exclusive lock while it does.

The daemon's own lock (``run/hive.lock``) already keeps a second `hive serve`
off a state dir, but the dashboard can also run alone (``python -m
hive_web``) beside it, and two senders draining one outbox would send each
status twice (both read the same due rows before either marks them sent).
So sending is claimed separately, with ``flock`` on ``run/forge-sender.lock``:
the kernel drops the claim when its holder dies, so a crashed sender never
leaves the outbox orphaned, and a second ``open`` + ``flock`` in the same
process is refused too (the lock belongs to the open file, not the process).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from hive_core.pidlock import holder_pid
from hive_kit.paths import StateLayout

CLAIM_FILE = "forge-sender.lock"


def claim_path(layout: StateLayout) -> Path:
    return layout.run / CLAIM_FILE


def claim(layout: StateLayout) -> IO[str] | None:
    """The claim to send (close it to give it up), or None while another holds it."""
    layout.run.mkdir(parents=True, exist_ok=True, mode=0o700)
    # 0600 in the 0700 run dir, beside hive.lock: no sandbox binds run/ itself (an agent sees only its
    # own run/<name>), so no agent can take the claim and so stop the sending
    handle = os.fdopen(os.open(claim_path(layout), os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600), "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def holder(layout: StateLayout) -> str:
    """The pid written by whoever holds the claim ("?" when unknown)."""
    try:
        return claim_path(layout).read_text().strip() or "?"
    except OSError:
        return "?"


def sender_pid(layout: StateLayout) -> int | None:
    """The pid of the process sending this state dir's outbox now (0: unknown), or None if none is."""
    return holder_pid(claim_path(layout))
