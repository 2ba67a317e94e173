"""Logging an agent's claude in: drive the CLI's own `claude auth login` over pipes.

Login is interactive OAuth, so only the operator can finish it (no MCP tool
does this): the agent page starts the flow, shows the URL the CLI prints,
and sends the code the operator pastes to the CLI's stdin. Credentials land
in the agent's own HOME (inside its state dir), so each agent logs in once
and keeps it across restarts. The CLI prints its prompt without a newline,
so output is read in chunks, not lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

log = logging.getLogger(__name__)

_URL = re.compile(r"https://\S+")
_OUTPUT_LIMIT = 8000


class LoginPhase(StrEnum):
    IDLE = "idle"
    STARTING = "starting"
    WAITING_FOR_CODE = "waiting_for_code"
    VERIFYING = "verifying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass
class LoginState:
    phase: LoginPhase = LoginPhase.IDLE
    url: str | None = None
    output: str = ""
    error: str | None = None

    def as_json(self) -> dict[str, object]:
        return {"phase": self.phase.value, "url": self.url, "output": self.output, "error": self.error}


@dataclass
class LoginFlow:
    """At most one `claude auth login` child per agent; `on_change` is told every phase/url change."""

    claude_bin: str
    env: Mapping[str, str]
    cwd: Path
    on_change: Callable[[LoginState], None]
    state: LoginState = field(default_factory=LoginState)
    _process: asyncio.subprocess.Process | None = None
    _reader: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def start(self) -> LoginState:
        if self.running:
            return self.state
        self.state = LoginState(LoginPhase.STARTING)
        self.on_change(self.state)
        try:
            self._process = await asyncio.create_subprocess_exec(
                self.claude_bin,
                "auth",
                "login",
                cwd=str(self.cwd),
                env=dict(self.env),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            self._finish(LoginPhase.FAILED, f"cannot start {self.claude_bin} auth login: {exc}")
            return self.state
        self._reader = asyncio.create_task(self._read(self._process), name="claude-login-reader")
        return self.state

    async def _read(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        while chunk := await process.stdout.read(4096):
            self.state.output = (self.state.output + chunk.decode("utf-8", "replace"))[-_OUTPUT_LIMIT:]
            match = _URL.search(self.state.output)
            if match and self.state.url is None:
                self.state.url = match.group(0)
                self.state.phase = LoginPhase.WAITING_FOR_CODE
            self.on_change(self.state)
        code = await process.wait()
        if self.state.phase is LoginPhase.CANCELLED:
            return
        if code == 0 and self.state.phase is LoginPhase.VERIFYING:
            self._finish(LoginPhase.SUCCEEDED, None)
        else:
            tail = self.state.output.strip().splitlines()[-1:] or [f"exit code {code}"]
            self._finish(LoginPhase.FAILED, f"claude auth login ended: {tail[0]}")

    def _finish(self, phase: LoginPhase, error: str | None) -> None:
        self.state.phase = phase
        self.state.error = error
        self.on_change(self.state)

    async def submit_code(self, code: str) -> LoginState:
        process = self._process
        if process is None or process.returncode is not None or process.stdin is None:
            raise LookupError("no login in progress; start one first")
        self.state.phase = LoginPhase.VERIFYING
        self.on_change(self.state)
        process.stdin.write(code.strip().encode() + b"\n")
        await process.stdin.drain()
        return self.state

    async def cancel(self) -> LoginState:
        process = self._process
        if process is not None and process.returncode is None:
            self.state.phase = LoginPhase.CANCELLED
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 3)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                await process.wait()
            self.on_change(self.state)
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        return self.state
