"""The bubblewrap command line for one agent: a pure function of what was found, tested without a process.

The agent is hostile (an LLM with a shell), so its root is an allow-list
built on bubblewrap's empty tmpfs, not the host's root with holes in it:

- ``/usr`` and the host's ``/bin``, ``/sbin``, ``/lib*`` (links stay links);
  ``/nix`` when there is one;
- from ``/etc`` only what programs need (``ETC_ALLOWED``: resolv.conf, hosts,
  certificates, the loader's cache…) and a ``passwd``/``group`` written for
  this agent (root and itself, home ``/state/home``); never shadow, ssh keys
  or sudoers;
- exact host paths bound read-only where they are: the interpreter (real
  paths of ``sys.prefix`` and ``sys.base_prefix``), the harness's own
  packages, the agent command's files and the *real* file of the claude
  binary. Their parent directories are created ``0711``: passable, not
  listable, holding nothing else;
- ``/state`` (its own state dir) is the only writable place, with a private
  ``/tmp`` and ``/var/tmp``; ``/run/hive`` is its socket directory;
- the manager alone gets ``/meta.git``, read-only: a view of the meta repo
  made of a ``HEAD`` and ``config`` the runtime writes (``metaview.py``)
  and the meta repo's own ``objects`` and ``refs``. Never the repo's config
  (a Forgejo remote URL may carry a token), hooks, logs or ``FETCH_HEAD``.

bwrap runs as root to build the mount namespace (an unprivileged bwrap
cannot bind what the agent's uid cannot traverse, such as an interpreter
under ``/root``); it keeps only the capabilities ``setpriv`` needs to drop
to the agent's own uid, which then clears every capability set and sets
``no_new_privs`` before the harness starts. Own pid, ipc, uts, cgroup and
network namespaces: the network one has only loopback, and the egress proxy
socket in ``/run/hive`` is the way out (``hive_core.egress``). A seccomp
filter (``seccomp.py``) keeps it from making user namespaces of its own.

The I/O that feeds this (listing ``/etc``, resolving links, probing bwrap)
is in ``reconciler.runtime.hostview``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from hive_core.identities import AgentIds
from hive_kit.launch import (
    ENV_CONFIG,
    ENV_EGRESS,
    ENV_PAGE,
    ENV_SOCKET,
    ENV_STATE,
    SANDBOX_CONFIG,
    SANDBOX_EGRESS,
    SANDBOX_HOME,
    SANDBOX_META,
    SANDBOX_PAGE,
    SANDBOX_RUN,
    SANDBOX_SOCKET,
    SANDBOX_STATE,
)

ETC_ALLOWED = (
    "resolv.conf",
    "hosts",
    "nsswitch.conf",
    "ssl",
    "pki",  # the certificates' place on Fedora / RHEL
    "ca-certificates",
    "ca-certificates.conf",
    "localtime",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "alternatives",
    "gai.conf",
    "host.conf",
    "protocols",
    "services",
    "mime.types",
)
"""Entries of the host's /etc an agent sees, when the host has them. Nothing else from /etc."""
TOP_LINKS = re.compile(r"^(s?bin|lib(32|64|x32)?)$")
"""Top-level host entries mirrored as they are (a merged-/usr host has links here)."""
ALWAYS_THERE = ("/usr", "/nix")
"""Bound whole: an exact path under them needs no bind of its own."""
CAPS_FOR_SETPRIV = ("CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP")
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,31}$")


@dataclass(frozen=True)
class Entry:
    name: str
    symlink: str | None  # target, if the entry is a symlink


@dataclass(frozen=True)
class HostRoot:
    """What of the host every sandbox sees (found once by ``hostview.scan``)."""

    top: tuple[Entry, ...]  # /bin, /sbin, /lib* as they are on the host
    etc: tuple[str, ...]  # names of ETC_ALLOWED the host has
    ro_paths: tuple[Path, ...]  # exact host paths bound read-only at the same place
    nix: bool
    setpriv: str
    aliases: tuple[tuple[Path, Path], ...] = ()
    """(as named, real path): a directory the agent's command names through a symlink (a venv
    reached by a linked path) is bound again where the command looks for it."""


@dataclass(frozen=True)
class MetaBind:
    """The manager's read-only meta repo: ``view`` (HEAD, config) with ``repo``'s objects and refs."""

    view: Path
    repo: Path


@dataclass(frozen=True)
class AgentBox:
    """One agent's own pieces on the host."""

    name: str
    ids: AgentIds
    state_dir: Path  # → /state (read-write)
    run_dir: Path  # → /run/hive (its sockets; page/ is its own)
    config_file: Path  # → /etc/hyperhive/agent.json
    passwd: Path  # → /etc/passwd (``passwd_text``)
    group: Path  # → /etc/group (``group_text``)
    meta: MetaBind | None = None  # → /meta.git, read-only (the manager only)


def passwd_text(box_name: str, ids: AgentIds) -> str:
    """root and the agent itself: what `id`, ssh, git and Python's getpass ask /etc/passwd about."""
    user = box_name if _NAME.match(box_name) and box_name != "root" else "agent"
    return (
        "root:x:0:0:root:/root:/usr/sbin/nologin\n"
        f"{user}:x:{ids.uid}:{ids.gid}:hyperhive agent {box_name}:{SANDBOX_HOME}:/bin/sh\n"
    )


def group_text(box_name: str, ids: AgentIds) -> str:
    user = box_name if _NAME.match(box_name) and box_name != "root" else "agent"
    return f"root:x:0:\n{user}:x:{ids.gid}:\n"


def _covered(path: Path, by: Sequence[Path]) -> bool:
    return any(path == other or other in path.parents for other in by)


def exact_paths(paths: Sequence[Path], *, nix: bool) -> list[Path]:
    """The paths that need a bind of their own: not under /usr (or /nix), nor under one another."""
    whole = [Path(p) for p in ALWAYS_THERE if p == "/usr" or nix]
    out: list[Path] = []
    for path in sorted(set(paths), key=lambda p: (len(p.parts), str(p))):
        if not _covered(path, whole + out):
            out.append(path)
    return out


def _parents(paths: Sequence[Path]) -> list[Path]:
    """Every directory above ``paths`` that bwrap must create, top-down, each once."""
    out: list[Path] = []
    for path in paths:
        for parent in reversed(path.parents):
            if parent != Path("/") and parent not in out:
                out.append(parent)
    return out


def bwrap_argv(
    bwrap: str, root: HostRoot, box: AgentBox, command: Sequence[str], *, seccomp_fd: int | None = None
) -> list[str]:
    """The full argv. The socket's *directory* is bound, so a socket re-created by a restarted
    daemon (a new inode) is what the agent sees, without restarting the agent. ``seccomp_fd``
    holds ``seccomp.userns_filter``'s program (no new user namespaces)."""
    args = [bwrap, "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-net"]
    # no --new-session: the runtime starts bwrap in a session of its own with no terminal (nothing to
    # inject keystrokes into), and keeping the sandbox in bwrap's process group means that killing
    # that group, as the runtime, `kill_all` and an operator do, ends everything inside it
    args += ["--unshare-cgroup-try", "--hostname", box.name]
    args += ["--ro-bind", "/usr", "/usr"]
    for entry in root.top:
        dest = f"/{entry.name}"
        args += ["--symlink", entry.symlink, dest] if entry.symlink is not None else ["--ro-bind", dest, dest]
    if root.nix:
        args += ["--ro-bind", "/nix", "/nix"]
    args += ["--perms", "0755", "--dir", "/etc"]
    for name in root.etc:
        args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    args += ["--ro-bind", str(box.passwd), "/etc/passwd", "--ro-bind", str(box.group), "/etc/group"]
    args += ["--perms", "0755", "--dir", str(PurePosixPath(SANDBOX_CONFIG).parent)]
    args += ["--ro-bind", str(box.config_file), SANDBOX_CONFIG]
    args += ["--proc", "/proc", "--dev", "/dev"]
    args += ["--perms", "1777", "--tmpfs", "/tmp"]  # noqa: S108 - a private tmpfs
    args += ["--perms", "0755", "--dir", "/var", "--perms", "1777", "--tmpfs", "/var/tmp"]  # noqa: S108
    exact = exact_paths(root.ro_paths, nix=root.nix)
    for parent in _parents(exact):
        args += ["--perms", "0711", "--dir", str(parent)]
    for path in exact:
        args += ["--ro-bind", str(path), str(path)]
    for parent in _parents([named for named, _ in root.aliases]):
        if parent not in exact and not any(parent.is_relative_to(p) for p in exact):
            args += ["--perms", "0711", "--dir", str(parent)]
    for named, real in root.aliases:
        args += ["--ro-bind", str(real), str(named)]
    args += ["--bind", str(box.state_dir), SANDBOX_STATE]
    args += ["--perms", "0755", "--dir", str(PurePosixPath(SANDBOX_RUN).parent)]
    args += ["--bind", str(box.run_dir), SANDBOX_RUN]
    if box.meta is not None:
        args += ["--ro-bind", str(box.meta.view), SANDBOX_META]
        for sub in ("objects", "refs"):
            args += ["--ro-bind", str(box.meta.repo / sub), f"{SANDBOX_META}/{sub}"]
    # not --chdir /state: bwrap changes directory after dropping its capabilities, and root without
    # CAP_DAC_OVERRIDE may not enter the agent's 0700 dir; the harness runs claude in /state itself
    args += ["--chdir", "/", "--cap-drop", "ALL"]
    for cap in CAPS_FOR_SETPRIV:
        args += ["--cap-add", cap]
    if seccomp_fd is not None:
        args += ["--seccomp", str(seccomp_fd)]
    return [*args, "--", *drop_to(root.setpriv, box.ids), *command]


def drop_to(setpriv: str, ids: AgentIds) -> list[str]:
    """setpriv's argv: the agent's uid and gid, no groups, no capability in any set, no_new_privs."""
    return [
        setpriv,
        "--reuid",
        str(ids.uid),
        "--regid",
        str(ids.gid),
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--no-new-privs",
        "--",
    ]


def sandbox_env(
    base: Mapping[str, str],
    *,
    marker: str,
    sandboxed: bool,
    name: str,
    state_dir: Path,
    config: Path,
    socket: Path,
) -> dict[str, str]:
    """Environment of the agent: paths as the agent sees them, plus the pass-through keys."""
    env = dict(base)
    env["HIVE_CONTAINER"] = marker
    run = socket.parent
    if sandboxed:
        env.update({ENV_CONFIG: SANDBOX_CONFIG, ENV_SOCKET: SANDBOX_SOCKET, ENV_STATE: SANDBOX_STATE})
        env.update({ENV_EGRESS: SANDBOX_EGRESS, ENV_PAGE: SANDBOX_PAGE, "HOME": SANDBOX_HOME})
        env.update({"USER": name, "LOGNAME": name})
    else:
        env.update({ENV_CONFIG: str(config), ENV_SOCKET: str(socket), ENV_STATE: str(state_dir)})
        env.update({ENV_EGRESS: str(run / "egress.sock"), ENV_PAGE: str(run / "page" / "page.sock")})
        env["HOME"] = str(state_dir / "home")
    return env
