"""The `local` runtime: each agent is a supervised process in a bubblewrap sandbox, as its own uid.

What the sandbox holds is ``sandbox.py`` (pure) fed by ``hostview.py`` (the
host's I/O). There is no silent downgrade: when this daemon cannot build
that sandbox (not root, no bwrap or setpriv, no namespaces), ``start``
raises a PermanentError naming what is missing and the fix, so the agent is
``Stalled``; only ``insecure=True`` (``hive serve --insecure-sandbox``) runs
agents without it, and then says so at start, in every agent's status
(``Observed.warning``) and in ``insecure_reason`` for the dashboard.

Supervision survives the daemon: processes run in their own session (a
daemon restart does not kill them) and are found again by their marker
(``procs.scan``), so a restarted daemon adopts them instead of starting
duplicates. Per agent, ``build/run.json`` remembers what the kernel cannot
tell a process that is not our child: whether we stopped it on purpose, and
its exit code when we reaped it. Restarting a crashed agent is not done
here — the reconciler sees the exit as a diff and restarts it under backoff.

The model key stays on the host: when the daemon holds one (its environment
or ``secrets.env``), agents get no credential at all, only
``HIVE_MODEL_SOCKET`` (their ``model.sock``, the host's gateway:
``hive_core.gateway``) and a placeholder key; ``HIVE_MODEL_GATEWAY=off`` in
the daemon's environment restores the old direct path (the key in every
sandbox) for an operator who needs it.

The log is bounded: the child writes with O_APPEND, so when the file grows
past ``log_max`` its content moves to ``agent.log.1`` and the file is
truncated in place, keeping at most twice ``log_max`` on disk.
"""

from __future__ import annotations

import asyncio
import builtins
import functools
import json
import logging
import os
import platform
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from hive_core.identities import AgentIds, Identities, UidRange, grant_run_dir
from hive_kit.envfile import CREDENTIAL_KEYS, read_env
from hive_kit.errors import PermanentError, TemporaryError
from hive_kit.launch import ENV_MODEL, GATEWAY_PLACEHOLDER_KEY, SANDBOX_MODEL
from hive_kit.paths import StateLayout
from reconciler.model import ContainerState, Observed
from reconciler.runtime import hostview, procs
from reconciler.runtime.base import MAX_LOG_LINES, LaunchSpec, LineSink, LogScope, log_scope
from reconciler.runtime.metaview import write_meta_view
from reconciler.runtime.ownership import own_state_dir, private_dir
from reconciler.runtime.sandbox import (
    AgentBox,
    MetaBind,
    bwrap_argv,
    group_text,
    passwd_text,
    sandbox_env,
)
from reconciler.runtime.seccomp import userns_filter

log = logging.getLogger(__name__)

DEFAULT_COMMAND = (sys.executable, "-m", "hive_harness", "serve", "--role", "{role}")
"""The daemon's own interpreter: no reliance on PATH or an activated venv."""
PASSTHROUGH = ("PATH", "LANG", "LC_ALL", "TZ", "PYTHONPATH", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL")
PASSTHROUGH_OPTIONAL = ("HIVE_CLAUDE_BIN", "HIVE_MCP_TRANSPORT")
GATEWAY_SWITCH = "HIVE_MODEL_GATEWAY"
"""``off`` in the daemon's environment: agents get the key and talk to the model API directly."""
HOST_KEYS = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN")


def gateway_on(base: Mapping[str, str], *, switch: str | None) -> bool:
    """Whether agents go behind the gateway: the host holds a key (in ``base``) and the operator's
    ``HIVE_MODEL_GATEWAY`` switch is not off. The nixos runtime asks the same (``FlakeInputs``)."""
    return (switch or "").lower() not in ("off", "0", "false", "no") and any(base.get(k) for k in HOST_KEYS)


def behind_gateway(base: Mapping[str, str], model_socket: str, *, switch: str | None) -> dict[str, str]:
    """``base`` as an agent behind the gateway gets it: no credential, no endpoint, the socket and a
    placeholder key. Unchanged when the switch is off or the host holds no key (nothing to hide)."""
    if not gateway_on(base, switch=switch):
        return dict(base)
    env = {k: v for k, v in base.items() if k not in CREDENTIAL_KEYS}
    env[ENV_MODEL] = model_socket
    env["ANTHROPIC_API_KEY"] = GATEWAY_PLACEHOLDER_KEY
    return env


def read_secrets(path: Path) -> dict[str, str]:
    """Every KEY=value line of the 0600 secrets file (``hive_kit.envfile``, as the host reads it)."""
    return read_env(path)


class LocalRuntime:
    kind = "local"
    uses_meta_flake = False
    places_seeds = False  # the loop writes them into the state dir, which is /state
    log_scopes: tuple[LogScope, ...] = (LogScope.HARNESS,)

    def __init__(
        self,
        layout: StateLayout,
        command: Sequence[str] = DEFAULT_COMMAND,
        *,
        sandbox: bool = True,
        insecure: bool = False,
        identities: Identities | None = None,
        uid_range: UidRange | None = None,
        env: Mapping[str, str] | None = None,
        log_max: int = 1 << 20,
        stop_grace: float = 5.0,
    ) -> None:
        """``sandbox=False`` runs agents unsandboxed on purpose (tests; ``--no-sandbox`` of
        ``python -m reconciler.service``); ``insecure`` allows that only when the sandbox cannot be
        built. ``identities`` is the daemon's; without it the runtime opens the store itself."""
        self.layout = layout
        self.command = tuple(command)
        self.env = dict(os.environ if env is None else env)
        self.log_max = log_max
        self.stop_grace = stop_grace
        self.key = procs.root_key(layout.root)
        self._identities = identities
        self._opening = threading.Lock()
        self.uid_range = uid_range or (identities.range if identities else UidRange.from_env())
        self._children: dict[str, int] = {}  # our own children, reaped with waitpid
        self._releasing: asyncio.Future[None] | None = None
        probe = AgentIds(self.uid_range.first, self.uid_range.first)
        self.support = hostview.support(probe) if sandbox else hostview.Support(None, None, "turned off")
        self.bwrap = self.support.bwrap if sandbox and self.support.ok else None
        self.refusal: str | None = None
        """Why agents may not start (no sandbox here, and not allowed to run without one)."""
        self.insecure_reason: str | None = None
        """Why agents run without the sandbox, if they do: the dashboard shows it as a banner."""
        if not sandbox:
            self.insecure_reason = (
                "the sandbox is turned off: agents run as the daemon's user with the host's files and network"
            )
        elif not self.support.ok and insecure:
            self.insecure_reason = (
                f"agents run WITHOUT a sandbox (--insecure-sandbox): {self.support.problem}. They run as "
                "the daemon's user and can read the host's files and reach its ports"
            )
        elif not self.support.ok:
            self.refusal = self.support.problem
            log.error(
                "agents cannot be sandboxed, so none will start: %s (or run `hive serve --insecure-sandbox` "
                "to run them unsandboxed, which gives every agent the host's files and network)",
                self.support.problem,
            )
        if self.insecure_reason is not None:
            log.warning("WARNING: %s", self.insecure_reason)

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
        """Side-effect free apart from reaping our own children (a dry run calls it too).

        Scan, then reap: a child that died before the scan (a zombie, which the scan skips) is reaped
        and its exit code recorded before it is reported; reaping first left a window in which it
        died unreaped and was reported exited with no code."""
        live = procs.scan(self.key)
        self._reap()
        out: dict[str, Observed] = {}
        for name in sorted(set(self._known()) | live.keys()):
            out[name] = self._observe(name, live.get(name))
        return out

    def tidy(self) -> None:
        """Housekeeping the loop runs each pass (never a dry run): reap children, bound logs, give
        back the uids of purged agents."""
        self._reap()
        for name in self._known():
            self._bound_log(self.layout.agent_dir(name) / "agent.log")
        if self.bwrap is None or (self._releasing is not None and not self._releasing.done()):
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self._release_purged()
            return
        # off the loop: the daemon's group commit may hold the store's write lock for this turn
        self._releasing = asyncio.ensure_future(asyncio.to_thread(self._release_purged))

    def _release_purged(self) -> None:
        """An agent whose whole dir is gone (purged), that does not run and whose socket dir the
        daemon does not hold (a new agent gets one before its first start) owns nothing any more."""
        running = procs.scan(self.key)
        try:
            manager_gid: int | None = self.layout.manager_socket.parent.stat().st_gid
        except FileNotFoundError:
            manager_gid = None
        for name, ids in self.identities().known().items():
            held = self.layout.agent_dir(name).exists() or self.layout.agent_socket(name).parent.exists()
            if name not in running and not held and ids.gid != manager_gid:
                self.identities().release(name)

    async def agent_uid(self, name: str) -> int | None:
        if not self.bwrap:
            return None
        return (await asyncio.to_thread(self.identities().for_agent, name)).uid

    def identities(self) -> Identities:
        with self._opening:  # called from worker threads: open (and migrate) the store once
            if self._identities is None:
                self._identities = Identities.open(self.layout.db, self.uid_range)
            return self._identities

    def _observe(self, name: str, pid: int | None) -> Observed:
        run = self._read_run(name)
        if pid is not None:
            warning = run.get("warning")
            return Observed(
                name, ContainerState.RUNNING, pid=pid, warning=warning if isinstance(warning, str) else ""
            )
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
        if self.refusal is not None:
            raise PermanentError(
                f"agent {spec.name} cannot start: no sandbox on this host: {self.refusal}. Or run "
                "`hive serve --insecure-sandbox` to run agents unsandboxed (they can then read the host's "
                "files and reach its ports)"
            )
        ids = await asyncio.to_thread(self.identities().for_agent, spec.name) if self.bwrap else None
        private_dir(self.layout.agent_dir(spec.name))
        spec.build_dir.mkdir(parents=True, exist_ok=True)
        if ids is not None:
            own_state_dir(spec.state_dir, ids)
        else:
            spec.state_dir.mkdir(parents=True, exist_ok=True)
            (spec.state_dir / "home").mkdir(exist_ok=True)
        grant_run_dir(spec.socket.parent, ids)
        seccomp = _seccomp_memfd() if ids is not None else None
        try:
            argv, env = self._argv(spec, ids, seccomp)
            child = self._spawn(spec, argv, env, () if seccomp is None else (seccomp,))
        finally:
            if seccomp is not None:
                os.close(seccomp)
        self._children[spec.name] = child.pid
        child.returncode = 0  # reaped by _reap with waitpid; the agent may outlive this daemon
        warning = self.insecure_reason or ""
        self._write_run(
            spec.name,
            pid=child.pid,
            stopped=False,
            exit_code=None,
            sandboxed=ids is not None,
            uid=ids.uid if ids else os.geteuid(),
            warning=warning,
        )
        how = f"in bubblewrap as uid {ids.uid}" if ids else f"UNSANDBOXED ({warning})"
        progress(f"agent {spec.name}: started pid {child.pid} {how}")

    def _spawn(
        self, spec: LaunchSpec, argv: builtins.list[str], env: dict[str, str], fds: tuple[int, ...]
    ) -> subprocess.Popen[bytes]:
        with open(spec.log_file, "ab") as out:
            out.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting {spec.name}\n".encode())
            out.flush()
            try:
                return subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=spec.state_dir,
                    start_new_session=True,
                    pass_fds=fds,
                )
            except OSError as exc:
                raise PermanentError(
                    f"agent {spec.name}: cannot run {argv[0]!r} ({exc}); check the runtime command "
                    "(`hive serve --agent-command`) and that it is installed"
                ) from exc

    def _write_spec(self, spec: LaunchSpec) -> None:
        spec.build_dir.mkdir(parents=True, exist_ok=True)
        data = {"name": spec.name, "is_manager": spec.is_manager, "socket": str(spec.socket)}
        self._spec_file(spec.name).write_text(json.dumps(data))

    def _base_env(self) -> dict[str, str]:
        """What an agent is given of the daemon's environment, and the secrets file below it."""
        base = {k: self.env[k] for k in PASSTHROUGH + PASSTHROUGH_OPTIONAL if k in self.env}
        for key, value in read_secrets(self.layout.secrets).items():
            base.setdefault(key, value)
        return base

    def _argv(
        self,
        spec: LaunchSpec,
        ids: AgentIds | None,
        seccomp: int | None = None,
        run: Sequence[str] | None = None,
    ) -> tuple[builtins.list[str], dict[str, str]]:
        """The agent's argv and environment; ``run`` (a trial) replaces the command inside the
        sandbox, which is still built for the agent's command."""
        command = [part.format(role=spec.role, name=spec.name) for part in self.command]
        base = self._base_env()
        model_socket = SANDBOX_MODEL if ids is not None else str(spec.socket.parent / "model.sock")
        env = sandbox_env(
            behind_gateway(base, model_socket, switch=self.env.get(GATEWAY_SWITCH)),
            marker=f"{self.key}/{spec.name}",
            sandboxed=ids is not None,
            name=spec.name,
            state_dir=spec.state_dir,
            config=spec.config_file,
            socket=spec.socket,
        )
        if self.bwrap is None or ids is None or self.support.setpriv is None:
            return command, env
        root, claude = hostview.scan(command, base, self.support.setpriv)
        if claude is not None:
            env["HIVE_CLAUDE_BIN"] = str(claude)
        box = AgentBox(
            name=spec.name,
            ids=ids,
            state_dir=spec.state_dir,
            run_dir=spec.socket.parent,
            config_file=spec.config_file,
            passwd=spec.build_dir / "passwd",
            group=spec.build_dir / "group",
            meta=MetaBind(spec.build_dir / "meta-view", self.layout.meta) if spec.is_manager else None,
        )
        if box.meta is not None:
            write_meta_view(box.meta.view)
        _readable(box.passwd, passwd_text(spec.name, ids), 0o644)
        _readable(box.group, group_text(spec.name, ids), 0o644)
        # the launch config is the agent's to read, and no other agent's (whatever umask wrote it)
        os.chown(spec.config_file, os.geteuid(), ids.gid)
        os.chmod(spec.config_file, 0o640)
        return bwrap_argv(self.bwrap, root, box, list(run or command), seccomp_fd=seccomp), env

    def try_claude(
        self, scratch: Path, args: Sequence[str] = ("--version",)
    ) -> subprocess.CompletedProcess[str]:
        """Run the claude CLI an agent would get (``claude args``) in a throwaway sandbox built exactly
        as an agent's (`hive doctor`): the same root, the probe's uid, a scratch dir as ``/state``.

        Raises PermanentError when agents cannot be sandboxed here or no claude is found."""
        if self.refusal is not None or self.bwrap is None:
            raise PermanentError(f"no sandbox to try claude in: {self.refusal or self.insecure_reason}")
        claude = hostview.claude_binary(self._base_env())
        if claude is None:
            raise PermanentError("no claude CLI found (HIVE_CLAUDE_BIN, node_modules/.bin/claude, PATH)")
        ids = AgentIds(self.uid_range.first, self.uid_range.first)  # the uid `support` probes with
        spec = LaunchSpec(
            name="doctor",
            is_manager=False,
            state_dir=scratch / "state",
            build_dir=scratch / "build",
            socket=scratch / "run" / "hive.sock",
            log_file=scratch / "log",
        )
        spec.build_dir.mkdir(parents=True, exist_ok=True)
        spec.config_file.write_text("{}")
        own_state_dir(spec.state_dir, ids)
        grant_run_dir(spec.socket.parent, ids)
        seccomp = _seccomp_memfd()
        try:
            argv, env = self._argv(spec, ids, seccomp, run=[str(claude), *args])
            return subprocess.run(
                argv,
                env=env,
                cwd=spec.state_dir,
                pass_fds=() if seccomp is None else (seccomp,),
                capture_output=True,
                text=True,
                timeout=hostview.PROBE_TIMEOUT_S * 3,
                check=False,
                start_new_session=True,
            )
        finally:
            if seccomp is not None:
                os.close(seccomp)

    async def stop(self, name: str, progress: LineSink) -> None:
        if self._run_file(name).parent.exists():
            self._write_run(name, stopped=True)
        pid = procs.scan(self.key).get(name)
        if pid is None:
            return
        for sig, wait in ((signal.SIGTERM, self.stop_grace), (signal.SIGKILL, 5.0)):
            current = procs.scan(self.key).get(name)  # bubblewrap may be gone and its init left
            if current is None or not procs.signal_agent(current, sig):
                break
            if await self._wait_gone(name, wait):
                break
        else:
            raise TemporaryError(f"agent {name}: process {pid} survived SIGKILL; will retry the stop")
        progress(f"agent {name}: stopped (pid {pid})")

    async def _wait_gone(self, name: str, timeout: float) -> bool:
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

    async def purge(self, name: str, progress: LineSink) -> None:
        return None  # the state dir is all there is, and the loop removes it

    def logs(self, name: str, lines: int = 200, scope: LogScope = LogScope.HARNESS) -> builtins.list[str]:
        """agent.log (the start lines and the harness's output), its rotated half first."""
        log_scope(scope, self.log_scopes, self.kind)
        path = self.layout.agent_dir(name) / "agent.log"
        text = ""
        for part in (path.with_name(path.name + ".1"), path):
            try:
                text += part.read_text(errors="replace")
            except OSError:
                continue
        return text.splitlines()[-max(1, min(lines, MAX_LOG_LINES)) :]


@functools.cache
def _warn_no_seccomp(machine: str) -> None:
    log.warning("no seccomp program for %s: agents here may create user namespaces", machine)


def _seccomp_memfd() -> int | None:
    """The agents' seccomp program (``seccomp.py``) in a memory file for bubblewrap's ``--seccomp FD``."""
    program = userns_filter(platform.machine())
    if program is None:
        _warn_no_seccomp(platform.machine())
        return None
    fd = os.memfd_create("hive-seccomp")
    os.write(fd, program)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _readable(path: Path, text: str, mode: int) -> None:
    path.write_text(text)
    os.chmod(path, mode)


def python_command(script: Path) -> tuple[str, ...]:
    """A runtime command running ``script`` with this interpreter (tests, benches)."""
    return (sys.executable, str(script))
