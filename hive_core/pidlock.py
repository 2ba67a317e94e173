"""Who holds a pid lock file: a process that took ``flock`` on it and wrote its pid into it.

The daemon's state-dir lock (``run/hive.lock``) and the forge sender's claim
(``run/forge-sender.lock``) are both such files; `hive status`, `hive forge
status` and `hive doctor` ask who holds them without taking them.
"""

from __future__ import annotations

import fcntl
from pathlib import Path


def holder_pid(path: Path) -> int | None:
    """The pid of the process holding ``path``'s lock now (0: held, pid unknown), or None if none is."""
    try:
        handle = path.open("r")
    except OSError:
        return None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = handle.read().strip()
            return int(text) if text.isdigit() else 0
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None
