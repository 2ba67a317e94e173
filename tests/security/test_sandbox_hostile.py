"""A hostile agent, played from inside real sandboxes: everything it tries fails, and the host sees it.

A real daemon (sockets, egress proxy, dashboard, reconciler with the local
runtime) starts two agents, ``alpha`` and ``beta`` (the fake agent of
tests/seams, so no model is needed). The test then runs Python *as alpha*:
``nsenter --target <alpha's process> --all`` puts it in alpha's mount,
network, pid, uts, ipc and cgroup namespaces, and ``setpriv`` with alpha's
uid, no groups, no capabilities and no_new_privs makes it alpha's process in
every way the kernel checks. Each probe reports what happened; every one
that would cross a boundary must fail. A second runner enters only alpha's
mount namespace (its files) and stays in the host's pid namespace, to show
that the uid alone already stops signals and ptrace across agents.

The real claude CLI's Bash tool tries the same from a real harness in
``test_sandbox_claude.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from desired.bootstrap import init_meta_repo
from desired.changes import add_agent
from desired.repo import MetaRepo
from hive.daemon import Daemon, add_reconciler
from hive_core.identities import AgentIds
from hive_kit.paths import StateLayout
from hive_web.keys import WebConfig
from reconciler.host import LoopControl
from reconciler.loop import LoopSettings
from reconciler.runtime import procs
from reconciler.runtime.registry import RuntimeOptions
from tests.reconciler.conftest import AGENT_COMMAND, REPO_ROOT, TESTER
from tests.reconciler.helpers import eventually

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(240),
    pytest.mark.skipif(
        os.geteuid() != 0 or not shutil.which("nsenter") or not shutil.which("bwrap"),
        reason="needs a root daemon, bubblewrap and nsenter",
    ),
]


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"hello from the host\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def http_server() -> Iterator[int]:
    """A listening HTTP server on the host's 127.0.0.1 (its port)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Swarm:
    layout: StateLayout
    daemon: Daemon
    web_port: int
    api_port: int  # allow-listed (ANTHROPIC_BASE_URL)
    host_port: int  # listening on the host, not allow-listed

    def ids(self, name: str) -> AgentIds:
        found = self.daemon.core.identities.lookup(name)
        assert found is not None, f"{name} has no uid"
        return found

    def agent_pid(self, name: str) -> int:
        """The agent's own process (the fake agent, running as its uid), as the host numbers it."""
        outer = procs.scan(procs.root_key(self.layout.root))[name]
        uid = self.ids(name).uid
        for pid in procs.descendants(outer):
            if (
                os.stat(f"/proc/{pid}").st_uid == uid
                and b"fake_agent" in Path(f"/proc/{pid}/cmdline").read_bytes()
            ):
                return pid
        raise AssertionError(f"no process of {name} with uid {uid}")

    def as_agent(self, name: str, code: str, *, namespaces: tuple[str, ...] = ("--all",)) -> Any:
        """Run ``code`` (Python that prints JSON) as ``name``: in its namespaces, with its uid."""
        ids = self.ids(name)
        argv = ["nsenter", f"--target={self.agent_pid(name)}", *namespaces, "--"]
        argv += ["setpriv", f"--reuid={ids.uid}", f"--regid={ids.gid}", "--clear-groups"]
        argv += ["--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--", sys.executable, "-c", code]
        env = {"PATH": "/usr/bin:/bin", "HOME": "/state/home", "LANG": "C.UTF-8"}
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env, check=False)
        assert out.returncode == 0, f"probe as {name} failed to run: {out.stderr}"
        return json.loads(out.stdout)


@pytest.fixture
async def swarm(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Swarm]:
    layout = StateLayout(REPO_ROOT / "test-artifacts" / f"hostile-{uuid.uuid4().hex[:8]}")
    init_meta_repo(layout.meta, TESTER)
    for name in ("alpha", "beta"):
        MetaRepo(layout.meta).commit(lambda s, n=name: add_agent(s, {"name": n}), author=TESTER, message=name)
    with http_server() as api_port, http_server() as host_port:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", f"http://127.0.0.1:{api_port}")
        web_port = free_port()
        daemon = Daemon(layout, web=WebConfig(host="127.0.0.1", port=web_port))
        add_reconciler(daemon, RuntimeOptions("local", AGENT_COMMAND), LoopSettings(health_timeout=20))
        task = asyncio.create_task(daemon.run())
        try:
            await eventually(lambda: isinstance(daemon.core.reconciler, LoopControl), what="the loop")
            control = daemon.core.reconciler
            assert isinstance(control, LoopControl)
            await eventually(
                lambda: all(daemon.core.harnesses.last_hello(n) for n in ("alpha", "beta", "manager")),
                timeout=60,
                what="every agent's hello",
            )
            yield Swarm(layout, daemon, web_port, api_port, host_port)
        finally:
            daemon.stop.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 20)
            procs.kill_all(layout.root)
            shutil.rmtree(layout.root, ignore_errors=True)


PROBES = r"""
import ctypes, json, os, socket
out = {}

def attempt(key, fn):
    try:
        out[key] = "ok: " + repr(fn())[:200]
    except Exception as exc:
        out[key] = f"denied: {type(exc).__name__}: {exc}"[:300]

def read(path):
    if os.path.isdir(path):
        return os.listdir(path)
    with open(path, "rb") as fh:
        return fh.read(64)

def write(path):
    with open(path, "w") as fh:
        fh.write("x")
    return path

def connect(host, port):
    with socket.create_connection((host, port), timeout=3):
        return "connected"

for key, path in ARGS["reads"].items():
    attempt("read " + key, lambda p=path: read(p))
for key, path in ARGS["writes"].items():
    attempt("write " + key, lambda p=path: write(p))
for key, (host, port) in ARGS["tcp"].items():
    attempt("tcp " + key, lambda h=host, p=port: connect(h, p))

libc = ctypes.CDLL(None, use_errno=True)
def ptrace(pid):
    if libc.ptrace(16, pid, 0, 0) != 0:  # PTRACE_ATTACH
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return "attached"
for key, pid in ARGS["pids"].items():
    attempt("kill " + key, lambda p=pid: os.kill(p, 0))
    attempt("ptrace " + key, lambda p=pid: ptrace(p))

if ARGS.get("self", True):  # /proc/self is there only inside its pid namespace
    status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
    keys = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs")
    out["caps"] = {k: status[k].strip() for k in keys}
    out["uid"] = [os.getuid(), os.geteuid(), os.getgid(), os.getgroups()]
    attempt("setuid 0", lambda: os.setuid(0))
    attempt("raw socket", lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW))
    attempt("chroot", lambda: os.chroot("/tmp"))
    out["visible uids"] = sorted({os.stat(f"/proc/{p}").st_uid for p in os.listdir("/proc") if p.isdigit()})
    out["var"] = sorted(os.listdir("/var"))
    net = open("/proc/net/dev").read().splitlines()[2:]
    out["interfaces"] = sorted(line.split(":")[0].strip() for line in net)
print(json.dumps(out))
"""


def probe_code(args: dict[str, Any]) -> str:
    return f"import json\nARGS = json.loads({json.dumps(json.dumps(args))})\n{PROBES}"


def _host_file_under(directory: str) -> str:
    """A real file (or dir) under ``directory`` on the host, to try to read from inside."""
    with contextlib.suppress(OSError):
        for name in sorted(os.listdir(directory)):
            return os.path.join(directory, name)
    return directory + "/nothing-here"


def _host_address() -> str:
    """An address of the host that is not loopback (what a sandbox on the host network could reach)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing address
            return str(s.getsockname()[0])
        except OSError:
            return "192.0.2.1"


async def test_from_inside_every_boundary_holds(swarm: Swarm) -> None:
    layout = swarm.layout
    beta = swarm.ids("beta")
    beta_pid = swarm.agent_pid("beta")
    args = {
        "reads": {
            "/root": "/root",
            "a file under /root": _host_file_under("/root"),
            "/home": "/home",
            "a file under /home": _host_file_under("/home"),
            "/etc/shadow": "/etc/shadow",
            "/etc/gshadow": "/etc/gshadow",
            "/etc/sudoers": "/etc/sudoers",
            "/etc/ssh": "/etc/ssh",
            "/srv": "/srv",
            "/work": "/work",
            "this checkout's .git": str(REPO_ROOT / ".git"),
            "this checkout's host code": str(REPO_ROOT / "hive_core" / "core.py"),
            "this checkout": str(REPO_ROOT),
            "the main checkout": "/work/main",
            "beta's state dir": str(layout.agent_state("beta")),
            "beta's claude home": str(layout.agent_state("beta") / "home" / ".claude"),
            "beta's socket": str(layout.agent_socket("beta")),
            "beta's socket dir": str(layout.agent_socket("beta").parent),
            "the admin socket": str(layout.admin_socket),
            "the manager's socket": str(layout.manager_socket),
            "the manager's MCP token": str(layout.agent_state("manager") / ".hive" / "mcp-config.json"),
            "the state root": str(layout.root),
            "hive.sqlite": str(layout.db),
            "the dashboard token": str(layout.root / "web-token"),
        },
        "writes": {
            "/usr": "/usr/x",
            "/etc": "/etc/x",
            "/": "/x",
            "/run/hive": "/run/hive/x",
            "/var": "/var/x",
            "/etc/hyperhive/agent.json": "/etc/hyperhive/agent.json",
            "the interpreter": sys.executable,
            "/proc/sys": "/proc/sys/kernel/hostname",
            "/state": "/state/mine.txt",
            "/tmp": "/tmp/mine.txt",
            "/var/tmp": "/var/tmp/mine.txt",
        },
        "tcp": {
            "a listening host port": ["127.0.0.1", swarm.host_port],
            "the dashboard": ["127.0.0.1", swarm.web_port],
            "the model API directly": ["127.0.0.1", swarm.api_port],
            "the host's own address": [_host_address(), swarm.web_port],
        },
        "pids": {"beta": beta_pid, "the daemon": os.getpid()},
    }
    found = swarm.as_agent("alpha", probe_code(args))
    denied = {
        key: value for key, value in found.items() if isinstance(value, str) and value.startswith("denied")
    }
    allowed = {
        key: value for key, value in found.items() if isinstance(value, str) and value.startswith("ok")
    }
    # the only things alpha may do: write its own /state, /tmp, /var/tmp
    assert set(allowed) == {"write /state", "write /tmp", "write /var/tmp"}, allowed
    for key in args["reads"]:
        assert f"read {key}" in denied
    # /root exists inside only as the 0711 parent of a bound path (an interpreter under ~/.pyenv, a
    # checkout under /root); with /usr/bin/python3 and a checkout elsewhere it is not there at all
    bound = (sys.prefix, sys.base_prefix, REPO_ROOT)
    under_root = any(Path(os.path.realpath(p)).is_relative_to("/root") for p in bound)
    absent_or_closed = "PermissionError" if under_root else "FileNotFoundError"
    assert absent_or_closed in denied["read /root"], denied["read /root"]
    assert (
        "FileNotFoundError" in denied["read /etc/shadow"]
        and "FileNotFoundError" in denied["read beta's socket"]
    )
    for key in ("a listening host port", "the dashboard", "the model API directly"):
        assert "ConnectionRefused" in denied[f"tcp {key}"], "its loopback is its own"
    assert "unreachable" in denied["tcp the host's own address"].lower()
    assert "ProcessLookupError" in denied["kill beta"] and "No such process" in denied["ptrace beta"]
    assert "ProcessLookupError" in denied["kill the daemon"]
    caps = found["caps"]
    assert {caps[k] for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")} == {"0000000000000000"}
    assert caps["NoNewPrivs"] == "1"
    uid = swarm.ids("alpha").uid
    assert found["uid"] == [uid, uid, uid, [uid]] or found["uid"] == [uid, uid, uid, []]
    assert {"setuid 0", "raw socket", "chroot"} <= {k for k in denied}
    assert found["visible uids"] == [uid] or set(found["visible uids"]) <= {0, uid}
    assert beta.uid not in found["visible uids"], "beta's processes are not even visible"
    assert found["interfaces"] == ["lo"], "its network has a loopback and nothing else"
    assert found["var"] == ["tmp"], "of /var only a private /var/tmp"
    assert (layout.agent_state("alpha") / "mine.txt").stat().st_uid == uid
    # and what the host sees of alpha's own process: no capability, no_new_privs, the seccomp filter
    # that keeps it from making a user namespace (its effect: test_sandbox_claude.py's Bash tool)
    status = Path(f"/proc/{swarm.agent_pid('alpha')}/status").read_text()
    assert "\nCapEff:\t0000000000000000\n" in status and "\nCapBnd:\t0000000000000000\n" in status
    assert "\nNoNewPrivs:\t1\n" in status and "\nSeccomp:\t2\n" in status


async def test_the_uid_alone_stops_signals_and_ptrace_across_agents(swarm: Swarm) -> None:
    """Even in the host's pid namespace, alpha's uid may not touch beta's processes or the daemon."""
    args = {
        "reads": {},
        "writes": {},
        "tcp": {},
        "pids": {"beta": swarm.agent_pid("beta"), "the daemon": os.getpid()},
        "self": False,
    }
    found = swarm.as_agent("alpha", probe_code(args), namespaces=("--mount",))
    for key in ("kill beta", "ptrace beta", "kill the daemon", "ptrace the daemon"):
        assert found[key].startswith("denied: PermissionError") or "Operation not permitted" in found[key], (
            found
        )


EGRESS = r"""
import json, socket, sys
args = json.loads(sys.argv[1])
out = {}
def ask(head):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect("/run/hive/egress.sock")
    s.sendall(head.encode())
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    s.close()
    return data.decode(errors="replace")
api, host = args["api"], args["host"]
out["api"] = ask(f"GET http://127.0.0.1:{api}/v1/models HTTP/1.1\r\nHost: 127.0.0.1:{api}\r\n\r\n")
out["host port"] = ask(f"GET http://127.0.0.1:{host}/ HTTP/1.1\r\nHost: 127.0.0.1:{host}\r\n\r\n")
out["elsewhere"] = ask("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
out["dashboard"] = ask(f"CONNECT 127.0.0.1:{args['web']} HTTP/1.1\r\nHost: x\r\n\r\n")
try:
    socket.socket(socket.AF_UNIX).connect(args["beta_egress"])
    out["beta's proxy"] = "connected"
except OSError as exc:
    out["beta's proxy"] = type(exc).__name__
print(json.dumps(out))
"""


async def test_egress_only_through_the_proxy_allow_listed_and_recorded(swarm: Swarm) -> None:
    args = {
        "api": swarm.api_port,
        "host": swarm.host_port,
        "web": swarm.web_port,
        "beta_egress": str(swarm.layout.egress_socket_for("beta", is_manager=False)),
    }
    code = EGRESS.replace("json.loads(sys.argv[1])", f"json.loads({json.dumps(json.dumps(args))})")
    found = await asyncio.to_thread(swarm.as_agent, "alpha", code)
    assert found["api"].startswith("HTTP/1.0 200") and "hello from the host" in found["api"]
    for key in ("host port", "elsewhere", "dashboard"):
        assert found[key].startswith("HTTP/1.1 403"), found[key]
        assert "alpha may not reach" in found[key]
    assert found["beta's proxy"] == "FileNotFoundError"
    rows = swarm.daemon.core.egress_log.recent("alpha", 20)
    seen = {(r["host"], r["port"], r["allowed"]) for r in rows}
    assert ("127.0.0.1", swarm.api_port, True) in seen
    assert ("127.0.0.1", swarm.host_port, False) in seen
    assert ("example.com", 443, False) in seen and ("127.0.0.1", swarm.web_port, False) in seen
    assert not swarm.daemon.core.egress_log.recent("beta", 20), "nothing was recorded against beta"
