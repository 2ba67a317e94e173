"""The `local` runtime: each agent is a supervised process in a bubblewrap sandbox.

Supervision survives the daemon: processes run in their own session (a
daemon restart does not kill them) and are found again by their marker
(``procs.scan``), so a restarted daemon adopts them instead of starting
duplicates. Per agent, ``build/run.json`` remembers what the kernel cannot
tell a process that is not our child: whether we stopped it on purpose, and
its exit code when we reaped it. Restarting a crashed agent is not done
here — the reconciler sees the exit as a diff and restarts it under backoff.

The log is bounded: the child writes with O_APPEND, so when the file grows
past ``log_max`` its content moves to ``agent.log.1`` and the file is
truncated in place, keeping at most twice ``log_max`` on disk.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from hive_kit.errors import PermanentError, TemporaryError
from hive_kit.paths import StateLayout
from reconciler.model import ContainerState, Observed
from reconciler.runtime import procs
from reconciler.runtime.base import LaunchSpec, LineSink
from reconciler.runtime.sandbox import bwrap_argv, code_paths, list_dir, sandbox_env

log = logging.getLogger(__name__)

DEFAULT_COMMAND = (sys.executable, "-m", "hive_harness", "serve", "--role", "{role}")
"""The daemon's own interpreter: no reliance on PATH or an activated venv."""
PASSTHROUGH = ("PATH", "LANG", "LC_ALL", "TZ", "PYTHONPATH", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL")
PASSTHROUGH_OPTIONAL = ("HIVE_CLAUDE_BIN", "HIVE_MCP_TRANSPORT")


def read_secrets(path: Path) -> dict[str, str]:
    """KEY=value lines of the 0600 secrets file; blank lines and # comments skipped."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    out = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and not key.startswith("#"):
            out[key.strip()] = value.strip().strip('"')
    return out


class LocalRuntime:
    kind = "local"
    uses_meta_flake = False

    def __init__(
        self,
        layout: StateLayout,
        command: Sequence[str] = DEFAULT_COMMAND,
        *,
        sandbox: bool = True,
        env: Mapping[str, str] | None = None,
        log_max: int = 1 << 20,
        stop_grace: float = 5.0,
    ) -> None:
        self.layout = layout
        self.command = tuple(command)
        self.env = dict(os.environ if env is None else env)
        self.log_max = log_max
        self.stop_grace = stop_grace
        self.key = procs.root_key(layout.root)
        self.bwrap = shutil.which("bwrap") if sandbox else None
        self._children: dict[str, int] = {}  # our own children, reaped with waitpid
        if sandbox and self.bwrap is None:
            log.warning(
                "bubblewrap (bwrap) is not installed: agents will run UNSANDBOXED and can read each "
                "other's files. Install it (Debian: apt install bubblewrap; NixOS: pkgs.bubblewrap)."
            )

    # ---- files ---------------------------------------------------------------------------------

    def _run_file(self, name: str) -> Path:
        return self.layout.agent_build(name) / "run.json"

    def _spec_file(self, name: str) -> Path:
        return self.layout.agent_build(name) / "runtime.json"

    def _read_run(self, name: str) -> dict[str, object]:
        try:
            data = json.loads(self._run_file(name).read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write_run(self, name: str, **fields: object) -> None:
        path = self._run_file(name)
        data = {**self._read_run(name), **fields}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(path)

    def _known(self) -> builtins.list[str]:
        base = self.layout.root / "agents"
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if (p / "build" / "runtime.json").exists())

    # ---- observe -------------------------------------------------------------------------------

    async def list(self) -> dict[str, Observed]:
        """Side-effect free apart from reaping our own children (a dry run calls it too)."""
        self._reap()
        live = procs.scan(self.key)
        out: dict[str, Observed] = {}
        for name in sorted(set(self._known()) | live.keys()):
            out[name] = self._observe(name, live.get(name))
        return out

    def tidy(self) -> None:
        """Housekeeping the loop runs each pass (never a dry run): reap children, bound logs."""
        self._reap()
        for name in self._known():
            self._bound_log(self.layout.agent_dir(name) / "agent.log")

    def _observe(self, name: str, pid: int | None) -> Observed:
        run = self._read_run(name)
        if pid is not None:
            return Observed(name, ContainerState.RUNNING, pid=pid)
        if run.get("stopped", True):
            return Observed(name, ContainerState.STOPPED)
        code = run.get("exit_code")
        return Observed(name, ContainerState.EXITED, exit_code=code if isinstance(code, int) else None)

    def _reap(self) -> None:
        for name, pid in list(self._children.items()):
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                del self._children[name]
                continue
            if done == 0:
                continue
            del self._children[name]
            code = os.waitstatus_to_exitcode(status)
            if self._run_file(name).parent.exists():
                self._write_run(name, exit_code=code)
            log.info("agent %s: process %d exited with code %s", name, pid, code)

    def _bound_log(self, path: Path) -> None:
        try:
            if path.stat().st_size <= self.log_max:
                return
            shutil.copyfile(path, path.with_name(path.name + ".1"))
            os.truncate(path, 0)
        except OSError:
            return

    # ---- act -----------------------------------------------------------------------------------

    async def create(self, spec: LaunchSpec, progress: LineSink) -> None:
        self._write_spec(spec)
        await self.start(spec, progress)

    async def update(self, spec: LaunchSpec, progress: LineSink) -> None:
        self._write_spec(spec)
        if spec.name in procs.scan(self.key):
            await self.stop(spec.name, progress)
        await self.start(spec, progress)

    async def start(self, spec: LaunchSpec, progress: LineSink) -> None:
        if spec.name in procs.scan(self.key):
            progress(f"agent {spec.name} is already running; adopted")
            return
        argv, env = self._argv(spec)
        spec.state_dir.mkdir(parents=True, exist_ok=True)
        (spec.state_dir / "home").mkdir(exist_ok=True)
        spec.log_file.parent.mkdir(parents=True, exist_ok=True)
        spec.socket.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(spec.log_file, "ab") as out:
            out.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting {spec.name}\n".encode())
            out.flush()
            try:
                child = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=spec.state_dir,
                    start_new_session=True,
                )
            except OSError as exc:
                raise PermanentError(
                    f"agent {spec.name}: cannot run {argv[0]!r} ({exc}); check the runtime command "
                    "(`hive serve --agent-command`) and that it is installed"
                ) from exc
        self._children[spec.name] = child.pid
        child.returncode = 0  # reaped by _reap with waitpid; the agent may outlive this daemon
        self._write_run(spec.name, pid=child.pid, stopped=False, exit_code=None)
        sandboxed = "in bubblewrap" if self.bwrap else "UNSANDBOXED (no bwrap)"
        progress(f"agent {spec.name}: started pid {child.pid} {sandboxed}")

    def _write_spec(self, spec: LaunchSpec) -> None:
        spec.build_dir.mkdir(parents=True, exist_ok=True)
        data = {"name": spec.name, "is_manager": spec.is_manager, "socket": str(spec.socket)}
        self._spec_file(spec.name).write_text(json.dumps(data))

    def _argv(self, spec: LaunchSpec) -> tuple[builtins.list[str], dict[str, str]]:
        command = [part.format(role=spec.role, name=spec.name) for part in self.command]
        base = {k: self.env[k] for k in PASSTHROUGH + PASSTHROUGH_OPTIONAL if k in self.env}
        for key, value in read_secrets(self.layout.secrets).items():
            base.setdefault(key, value)
        env = sandbox_env(
            base,
            marker=f"{self.key}/{spec.name}",
            sandboxed=self.bwrap is not None,
            state_dir=spec.state_dir,
            config=spec.config_file,
            socket=spec.socket,
        )
        if self.bwrap is None:
            return command, env
        argv = bwrap_argv(
            bwrap=self.bwrap,
            name=spec.name,
            state_root=self.layout.root,
            state_dir=spec.state_dir,
            config_file=spec.config_file,
            socket_dir=spec.socket.parent,
            command=command,
            top=list_dir(Path("/"), frozenset({"proc", "dev", "tmp", "run", "state", "lost+found", "etc"})),
            etc=list_dir(Path("/etc"), frozenset({"hyperhive"})),
            code=code_paths(
                command, [Path(self.env[k]).parent for k in ("HIVE_CLAUDE_BIN",) if k in self.env]
            ),
        )
        return argv, env

    async def stop(self, name: str, progress: LineSink) -> None:
        if self._run_file(name).parent.exists():
            self._write_run(name, stopped=True)
        pid = procs.scan(self.key).get(name)
        if pid is None:
            return
        for sig, wait in ((signal.SIGTERM, self.stop_grace), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:
                break
            if await self._wait_gone(name, pid, wait):
                break
        else:
            raise TemporaryError(f"agent {name}: process {pid} survived SIGKILL; will retry the stop")
        progress(f"agent {name}: stopped (pid {pid})")

    async def _wait_gone(self, name: str, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._reap()
            if name not in procs.scan(self.key):
                return True
            await asyncio.sleep(0.05)
        return False

    async def destroy(self, name: str, progress: LineSink) -> None:
        await self.stop(name, progress)
        self._children.pop(name, None)
        shutil.rmtree(self.layout.agent_build(name), ignore_errors=True)
        progress(f"agent {name}: container removed (state dir kept)")

    def logs(self, name: str, lines: int = 200) -> builtins.list[str]:
        path = self.layout.agent_dir(name) / "agent.log"
        text = ""
        for part in (path.with_name(path.name + ".1"), path):
            try:
                text += part.read_text(errors="replace")
            except OSError:
                continue
        return text.splitlines()[-lines:]


def python_command(script: Path) -> tuple[str, ...]:
    """A runtime command running ``script`` with this interpreter (tests, benches)."""
    return (sys.executable, str(script))
