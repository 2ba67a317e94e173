"""An agent container's journal: the nixos runtime's logs, read with `journalctl -M <container>`.

On NixOS the harness is a systemd unit inside the agent's container
(``systemd.services.hive-harness`` in ``reconciler/nix/harness-base.nix``),
so what it writes goes to the container's journal, never to a file of ours.
Upstream's viewer read it the same way. Which units may be read is a fixed
allow-list keyed by ``LogScope``: the harness unit (the default) or the
whole machine (no ``-u``). No caller ever names a unit, so the dashboard
cannot be made to read anything else of the container, and the container
name is an agent's (checked by the runtime before this runs).

Bounded three ways: at most ``MAX_LOG_LINES`` lines (``-n``), each cut at
``MAX_LINE_CHARS`` (journald keeps lines of up to 48 KiB, and an agent
writes what it likes), and ``TIMEOUT_S`` of journalctl's time.
"""

from __future__ import annotations

import collections
import subprocess
import threading
from collections.abc import Mapping

from hive_kit.errors import TemporaryError
from reconciler.runtime.base import MAX_LOG_LINES, LogScope

HARNESS_UNIT = "hive-harness.service"
UNITS: Mapping[LogScope, str | None] = {LogScope.HARNESS: HARNESS_UNIT, LogScope.MACHINE: None}
"""The allow-list: scope → the one unit it reads (None: the container's whole journal)."""
MAX_LINE_CHARS = 4000
TIMEOUT_S = 20.0


def journal_argv(journalctl: str, container: str, scope: LogScope, lines: int) -> list[str]:
    """The journalctl command for ``scope`` of ``container`` (``scope`` must be a key of UNITS)."""
    unit = UNITS[scope]
    argv = [journalctl, "-M", container, *(["-u", unit] if unit else [])]
    return [*argv, "-n", str(max(1, min(lines, MAX_LOG_LINES))), "--no-pager", "--output=short-iso"]


def _cut(raw: bytes) -> str:
    line = raw.decode(errors="replace").rstrip("\n")
    return line if len(line) <= MAX_LINE_CHARS else line[:MAX_LINE_CHARS] + " …(cut)"


def read_journal(argv: list[str], container: str) -> list[str]:
    """Run ``argv`` (from ``journal_argv``); its lines, or a TemporaryError saying what went wrong."""
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    except OSError as exc:
        raise TemporaryError(f"cannot run {argv[0]} for container {container}: {exc}") from exc
    timer = threading.Timer(TIMEOUT_S, proc.kill)
    timer.start()
    kept: collections.deque[str] = collections.deque(maxlen=MAX_LOG_LINES)
    with proc:  # closes its pipe, waits for it
        try:
            for raw in proc.stdout or ():
                kept.append(_cut(raw))
        finally:
            timer.cancel()
    code = proc.returncode
    if code < 0:
        raise TemporaryError(f"journalctl -M {container} took over {TIMEOUT_S:.0f}s; try fewer lines")
    if code != 0:
        why = " | ".join(list(kept)[-3:]) or f"exit code {code}"
        raise TemporaryError(
            f"cannot read container {container}'s journal ({why}); is it running? "
            f"(`nixos-container status {container}`; its build output: `hive logs {container} --scope build`)"
        )
    return list(kept)
