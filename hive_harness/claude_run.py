"""Running one `claude` child: stream its stdout through the parser, and cancel it on request.

The child gets its own process group so a cancel reaches the MCP servers it
launched too: SIGINT first (claude saves its session), SIGKILL after a grace
period. stdout lines can be large (tool results), so the reader's limit is
generous; stderr is kept as a bounded tail for the failure note.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hive_harness.streamjson import TurnAccumulator, parse_line

log = logging.getLogger(__name__)

CANCEL_GRACE_SECONDS = 5.0
_LINE_LIMIT = 32 * 1024 * 1024


class ClaudeStartError(RuntimeError):
    """The claude binary could not be started (path and fix in the message)."""


@dataclass(frozen=True)
class RunResult:
    acc: TurnAccumulator
    returncode: int
    cancelled: bool
    stderr_tail: str

    def exit_note(self) -> str:
        if self.cancelled:
            return "cancelled by the operator"
        tail = self.stderr_tail.strip().splitlines()[-1:] if self.stderr_tail.strip() else []
        return f"claude exited with code {self.returncode}" + (f": {tail[0]}" if tail else "")


class ClaudeRun:
    """One child process; `cancel()` may be called from any task while `wait()` runs."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.cancelled = False

    @property
    def pid(self) -> int:
        return self.process.pid

    @classmethod
    async def start(cls, argv: Sequence[str], *, env: Mapping[str, str], cwd: Path) -> ClaudeRun:
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                cwd=str(cwd),
                env=dict(env),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
                limit=_LINE_LIMIT,
            )
        except OSError as exc:
            raise ClaudeStartError(
                f"cannot start {argv[0]}: {exc.strerror or exc}; set HIVE_CLAUDE_BIN or run `npm install`"
            ) from exc
        return cls(process)

    async def wait(self, on_event: Callable[[dict[str, Any]], None]) -> RunResult:
        """Feed every stream-json object to the accumulator and `on_event`, until the child exits."""
        acc = TurnAccumulator()
        tail: deque[str] = deque(maxlen=20)
        assert self.process.stdout is not None and self.process.stderr is not None
        stderr_task = asyncio.create_task(_drain(self.process.stderr, tail), name=f"claude-stderr-{self.pid}")
        try:
            async for line in self.process.stdout:
                event = parse_line(line)
                if event is None:
                    continue
                acc.feed(event)
                try:
                    on_event(event)
                except Exception:  # a display problem must not lose the turn
                    log.exception("live event handler failed on a %s event", event.get("type"))
            returncode = await self.process.wait()
            await stderr_task
        finally:
            if self.process.returncode is None:
                self._signal(signal.SIGKILL)
                await self.process.wait()
            stderr_task.cancel()
        return RunResult(acc, returncode, self.cancelled, "\n".join(tail))

    def _signal(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)

    async def cancel(self, grace: float = CANCEL_GRACE_SECONDS) -> None:
        """SIGINT the child's process group; SIGKILL it if it is still there after `grace` seconds."""
        if self.process.returncode is not None:
            return
        self.cancelled = True
        self._signal(signal.SIGINT)
        try:
            await asyncio.wait_for(asyncio.shield(self.process.wait()), grace)
        except TimeoutError:
            log.warning("claude (pid %d) ignored SIGINT for %.1f s; killing it", self.pid, grace)
            self._signal(signal.SIGKILL)


async def _drain(stream: asyncio.StreamReader, tail: deque[str]) -> None:
    async for raw in stream:
        line = raw.decode("utf-8", "replace").rstrip()
        if line:
            tail.append(line[:500])
