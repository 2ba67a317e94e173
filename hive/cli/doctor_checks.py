"""The checks of `hive doctor`, one function each: what this machine lacks to run a swarm, and the fix.

Every check asks the code that does the real thing, so doctor and `hive
serve` cannot disagree: the runtime's own sandbox probe
(``hostview.support``) and a throwaway sandbox built as an agent's
(``LocalRuntime.try_claude``), the claude resolution the runtime uses
(``hostview.claude_binary``), the harness's login test
(``hive_kit.envfile.has_credentials``), the admin socket's ``status``, and
the marker scan a restarted daemon adopts its agents by (``procs.scan``).
They read this process's environment and run as its user: run `hive doctor`
where, and as whom, `hive serve` runs.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import socket
import stat
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from hive_core.identities import AgentIds, UidRange
from hive_kit import wire
from hive_kit.envfile import CREDENTIAL_KEYS, has_credentials, parse_env, read_env
from hive_kit.errors import PermanentError
from hive_kit.paths import StateLayout
from reconciler.runtime import hostview
from reconciler.runtime.registry import HOST_NEEDS, HostNeeds, host_needs

MIN_FREE_BYTES = 1 << 30
KEYS = tuple(key for key in CREDENTIAL_KEYS if key != "ANTHROPIC_BASE_URL")
TOOL_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Check:
    check: str
    ok: bool
    detail: str
    fix: str = ""
    needed: bool = True  # False: shown as "–" (not needed here, or not tried); counts as ok

    def to_json(self) -> dict[str, object]:
        return {"check": self.check, "ok": self.ok, "detail": self.detail, "fix": self.fix}


def skipped(name: str, why: str) -> Check:
    return Check(name, True, why, needed=False)


@dataclass
class Machine:
    """What the checks look at; ``daemon`` is the running daemon's ``status`` answer, if any."""

    layout: StateLayout
    runtime: str
    command: tuple[str, ...]
    uid_range: UidRange
    web_host: str
    web_port: int
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    daemon: wire.StatusResult | None = None
    daemon_error: str = ""

    @property
    def needs(self) -> HostNeeds:
        """What this machine's runtime driver needs of it (asked of the registry, never by name)."""
        return host_needs(self.runtime)

    @property
    def probe_ids(self) -> AgentIds:
        return AgentIds(self.uid_range.first, self.uid_range.first)  # the runtime's own probe uid


def _split_fix(problem: str) -> tuple[str, str]:
    detail, sep, fix = problem.partition(". Fix: ")
    return (detail, fix) if sep else (problem, "")


def _last_line(text: str, default: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else default


def tool_version(argv: list[str]) -> tuple[bool, str]:
    """(it ran, its first line of output) or (False, why it did not)."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return False, f"no answer in {TOOL_TIMEOUT_S:.0f} s"
    except OSError as exc:
        return False, exc.strerror or str(exc)
    if done.returncode != 0:
        return False, _last_line(done.stderr or done.stdout, f"exit code {done.returncode}")
    said = (done.stdout.strip() or done.stderr.strip()).splitlines()
    return True, said[0] if said else "it answers"


# ---- the sandbox and claude ---------------------------------------------------------------------


def sandbox(m: Machine) -> Check:
    name = "sandbox"
    if not m.needs.sandbox:
        return skipped(name, f"not needed: the {m.runtime} runtime runs agents in its own containers")
    if os.geteuid() != 0:
        return Check(
            name,
            False,
            f"hive doctor runs as uid {os.geteuid()}: only root builds agents' sandboxes, "
            "so only root can try one",
            "run `sudo hive doctor` (hive serve must run as root too)",
        )
    found = hostview.support(m.probe_ids)
    if found.problem is not None or found.bwrap is None:
        return Check(name, False, *_split_fix(found.problem or "bwrap is missing"))
    _, version = tool_version([found.bwrap, "--version"])
    return Check(
        name,
        True,
        f"{found.bwrap} ({version}) builds an agent's sandbox here: own network and pid namespaces, "
        f"dropped to uid {m.uid_range.first} by {found.setpriv}",
    )


def claude(m: Machine) -> Check:
    name = "claude CLI"
    explicit = m.env.get("HIVE_CLAUDE_BIN")
    found = hostview.claude_binary(m.env)
    if explicit and not os.path.isfile(explicit):
        instead = f"; agents would get {found} instead" if found else ""
        return Check(
            name,
            False,
            f"HIVE_CLAUDE_BIN={explicit} is not a file{instead}",
            "point HIVE_CLAUDE_BIN at the claude CLI (e.g. ~/.local/bin/claude), or unset it",
        )
    if found is None:
        return Check(
            name,
            False,
            "no claude CLI: HIVE_CLAUDE_BIN is unset, the checkout has no node_modules/.bin/claude "
            "and there is none on PATH",
            "run scripts/setup.sh (npm installs it into node_modules), or set HIVE_CLAUDE_BIN",
        )
    ran, version = tool_version([str(found), "--version"])
    shown = f"{explicit} → {found}" if explicit and explicit != str(found) else str(found)
    if not ran:
        return Check(
            name,
            False,
            f"{shown} --version failed: {version}",
            "reinstall it (`npm ci` in the checkout, or the native installer) or point HIVE_CLAUDE_BIN "
            "at a working claude",
        )
    return Check(name, True, f"{shown}: {version}")


def claude_in_sandbox(m: Machine, ready: bool) -> Check:
    """``ready``: the sandbox and the claude checks passed (else there is nothing to try)."""
    name = "claude in a sandbox"
    if not m.needs.sandbox:
        return skipped(name, f"not needed: the {m.runtime} runtime puts claude in its containers")
    if not ready:
        return skipped(name, "not tried: fix the sandbox and claude checks first")
    from reconciler.runtime.local import DEFAULT_COMMAND, LocalRuntime

    runtime = LocalRuntime(m.layout, m.command or DEFAULT_COMMAND, env=m.env, uid_range=m.uid_range)
    scratch = Path(tempfile.mkdtemp(prefix="hive-doctor-"))
    try:
        done = runtime.try_claude(scratch)
    except (PermanentError, OSError, subprocess.TimeoutExpired) as exc:
        return Check(name, False, f"could not try it: {exc}", "see the sandbox and claude checks")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if done.returncode != 0:
        return Check(
            name,
            False,
            f"claude fails inside an agent's sandbox: {_last_line(done.stderr, str(done.returncode))}",
            "the sandbox binds claude's real file: install it where any uid may read it (npm in the "
            "checkout, or the native installer), or set HIVE_CLAUDE_BIN to it",
        )
    return Check(
        name, True, f"runs inside an agent's sandbox as uid {m.uid_range.first}: {done.stdout.strip()}"
    )


# ---- credentials ---------------------------------------------------------------------------------


def _agent_secrets(path: Path) -> dict[str, str]:
    """An agent's own ``secrets.env``, read without following its links or blocking on a FIFO it made."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return {}
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return {}
        return parse_env(handle.read(1 << 16).decode(errors="replace"), KEYS)


def _logged_in(layout: StateLayout, name: str) -> bool | None:
    """The harness's own test, asked from the host; None: this user may not look."""
    state = layout.agent_state(name)
    try:
        return has_credentials({**_agent_secrets(state / "secrets.env"), "HOME": str(state / "home")})
    except PermissionError:
        return None


def credentials(m: Machine, agents: list[str]) -> Check:
    name = "credentials"
    path = m.layout.secrets
    with contextlib.suppress(FileNotFoundError):
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            return Check(
                name, False, f"{path} is mode {mode:o}: other users can read it", f"chmod 600 {path}"
            )
    in_env = [key for key in KEYS if m.env.get(key)]
    if in_env:
        return Check(name, True, f"{in_env[0]} in this environment (hive serve must get it too)")
    in_file = [key for key in KEYS if read_env(path, KEYS).get(key)]
    if in_file:
        return Check(name, True, f"{in_file[0]} in {path}")
    logins = {agent: _logged_in(m.layout, agent) for agent in agents}
    if agents and all(logins.values()):
        return Check(name, True, f"no API key, and every agent has its own login ({', '.join(agents)})")
    missing = [agent for agent, ok in logins.items() if ok is False]
    unknown = [agent for agent, ok in logins.items() if ok is None]
    detail = f"no API key in this environment or {path}"
    if missing:
        detail += f", and no login for {', '.join(missing)}"
    if unknown:
        detail += f"; may not look into the state of {', '.join(unknown)} as uid {os.geteuid()}"
    return Check(
        name,
        False,
        detail,
        f"put ANTHROPIC_API_KEY=... in {path} (chmod 600), "
        "or log each agent in on its page (`hive dashboard url`)",
    )


# ---- the host ------------------------------------------------------------------------------------


def _bind_error(host: str, port: int) -> OSError | None:
    """What binding the dashboard's address says now (as aiohttp binds it: SO_REUSEADDR)."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        return exc
    return None


def dashboard_port(m: Machine) -> Check:
    name = "dashboard port"
    if m.web_port == 0:
        return Check(name, True, "any free port (--web-port 0)")
    where = f"{m.web_host}:{m.web_port}"
    error = _bind_error(m.web_host, m.web_port)
    if error is None:
        return Check(name, True, f"{where} is free")
    served = m.daemon.dashboard if m.daemon is not None else None
    if error.errno == errno.EADDRINUSE and served and urlsplit(served).port == m.web_port:
        return Check(name, True, f"{where} is this state dir's hive serve ({served})")
    if error.errno == errno.EADDRINUSE:
        return Check(
            name,
            False,
            f"{where} is taken by another program",
            f"stop it, or give the dashboard another port: `hive serve --web-port {m.web_port + 1}` "
            "(or HIVE_WEB_PORT)",
        )
    return Check(
        name,
        False,
        f"cannot listen on {where}: {error.strerror or error}",
        "set --web-host (HIVE_WEB_HOST) to an address of this machine, e.g. 127.0.0.1",
    )


def _size(n: int) -> str:
    return f"{n / (1 << 30):.1f} GiB" if n >= 1 << 30 else f"{n >> 20} MiB"


def state_dir(m: Machine) -> Check:
    name = "state dir"
    root = m.layout.root
    if not m.layout.meta.is_dir():
        return Check(name, False, f"{root} holds no swarm (no meta.git)", f"`hive init --state-dir {root}`")
    try:
        with tempfile.TemporaryFile(dir=root):
            pass
    except OSError as exc:
        return Check(
            name,
            False,
            f"{root} is not writable ({exc.strerror or exc})",
            "run as the user hive serve runs as (root), or fix the directory's owner and mode",
        )
    free = shutil.disk_usage(root).free
    if free < MIN_FREE_BYTES:
        return Check(
            name,
            False,
            f"{root}: only {_size(free)} free",
            "free space on that file system: agents' state, logs and the stores grow there",
        )
    return Check(name, True, f"{root} is writable, {_size(free)} free")


def _nix_runtimes() -> str:
    return " or ".join(kind for kind, needs in HOST_NEEDS.items() if needs.nix)


def tool(name: str, argv: list[str], *, needed: bool, install: str) -> Check:
    """A program found on PATH, with its version; ``needed=False``: its absence is no problem."""
    if shutil.which(argv[0]) is None:
        if not needed:
            return skipped(
                name,
                f"not needed: {argv[0]} is not installed, and only the {_nix_runtimes()} runtime uses it",
            )
        return Check(name, False, f"{argv[0]} is not on PATH", install)
    ran, version = tool_version(argv)
    if not ran:
        return Check(name, False, f"{argv[0]} does not run: {version}", install)
    return Check(name, True, version)
