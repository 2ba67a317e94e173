"""Finding an agent's processes by a marker in their environment, straight from /proc.

Why not only a pid file: the daemon can die between spawning a sandbox and
writing its pid down. Every process the local runtime starts carries
``HIVE_CONTAINER=<root key>/<name>`` in its environment (inherited by
everything inside the sandbox), so a restarted daemon finds — and adopts —
every live agent by asking the kernel, and never starts a duplicate.

Only processes of the daemon's own uid count: an agent runs as a uid of its
own and controls its environment, so it could start a process that claims
another agent's marker. The sandbox's bubblewrap processes (root, like the
daemon) carry the marker it was given, and those are what ``scan`` finds.

Stopping: the sandbox (bubblewrap, the init of its pid namespace, the
harness) is one process group, the one the runtime started; ``signal_agent``
signals that group. SIGTERM reaches the harness (the namespace's init
ignores it), which shuts down cleanly, and the sandbox ends with it; SIGKILL
reaches the init too, which takes the whole pid namespace with it.
"""

from __future__ import annotations

import hashlib
import os
import signal
from pathlib import Path

MARKER_ENV = "HIVE_CONTAINER"


def root_key(root: Path) -> str:
    """A short key for one state dir, so two hyperhives on one host never adopt each other's agents."""
    return hashlib.sha256(str(root).encode()).hexdigest()[:12]


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        return b""


def _marker_of(pid: str) -> str | None:
    needle = (MARKER_ENV + "=").encode()
    for item in _read(f"/proc/{pid}/environ").split(b"\0"):
        if item.startswith(needle):
            return item[len(needle) :].decode(errors="replace")
    return None


def _real_uid(pid: str) -> int | None:
    for line in _read(f"/proc/{pid}/status").splitlines():
        if line.startswith(b"Uid:"):
            return int(line.split()[1])
    return None


def _ppid_and_state(pid: str) -> tuple[str, str]:
    stat = _read(f"/proc/{pid}/stat").decode(errors="replace")
    rest = stat.rpartition(")")[2].split()
    return (rest[1], rest[0]) if len(rest) > 1 else ("0", "?")


def scan(key: str) -> dict[str, int]:
    """Agent name → pid of the outermost live process carrying this state dir's marker."""
    prefix = key + "/"
    me = os.geteuid()
    marked: dict[str, str] = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        marker = _marker_of(pid)
        if marker is not None and marker.startswith(prefix) and _real_uid(pid) == me:
            marked[pid] = marker
    found: dict[str, int] = {}
    for pid, marker in marked.items():
        ppid, state = _ppid_and_state(pid)
        if state in ("Z", "X") or marked.get(ppid) == marker:
            continue  # a zombie, or an inner process of a sandbox already counted
        name = marker[len(prefix) :]
        found[name] = min(int(pid), found.get(name, int(pid)))
    return found


def alive(pid: int) -> bool:
    _, state = _ppid_and_state(str(pid))
    return state not in ("?", "Z", "X")


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (for tests and `kill -9` of the agent itself)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            ppid, _ = _ppid_and_state(entry)
            children.setdefault(int(ppid), []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def signal_agent(pid: int, sig: int) -> bool:
    """Signal the process group of an agent found by ``scan``; False if it was gone already.

    By group id, not by ``pid``: if bubblewrap itself was killed, ``scan`` finds the init it left,
    still in the group named after the bubblewrap that started it.
    """
    try:
        os.killpg(os.getpgid(pid), sig)
    except ProcessLookupError:
        return False
    return True


def kill_all(root: Path) -> list[int]:
    """SIGKILL every agent sandbox of the state dir ``root`` (whole process groups).

    Agents outlive `hive serve` on purpose (a restarted daemon adopts them), so
    whoever ends a swarm for good — a test's teardown, an uninstall — calls this.
    """
    killed = []
    for pid in scan(root_key(root)).values():
        if signal_agent(pid, signal.SIGKILL):
            killed.append(pid)
    return killed
