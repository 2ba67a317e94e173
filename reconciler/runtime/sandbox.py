"""The bubblewrap command line for one agent: a pure function of paths, tested without a process.

Why the root is assembled entry by entry rather than ``--ro-bind / /``:
the sandbox needs new mount points (``/state``, ``/etc/hyperhive``) and a
read-only host root leaves nowhere to create them. So the new root is
bubblewrap's empty tmpfs; every top-level host directory is bound read-only
into it, and ``/etc`` is rebuilt the same way one level down, which leaves
room for ``/etc/hyperhive/agent.json``. The host's state root is covered by
an empty tmpfs, so no other agent's files (or sockets) are reachable; the
agent's own state dir is bound read-write at ``/state``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from hive_core.launch import SANDBOX_CONFIG, SANDBOX_SOCKET, SANDBOX_STATE

SKIP_TOP = frozenset({"proc", "dev", "tmp", "run", "state", "lost+found", "etc"})
SKIP_ETC = frozenset({"hyperhive"})
_MASKED = (Path("/tmp"), Path("/run"))  # noqa: S108 - these get a fresh tmpfs inside the sandbox


@dataclass(frozen=True)
class Entry:
    name: str
    symlink: str | None  # target, if the entry is a symlink


def list_dir(path: Path, skip: frozenset[str]) -> list[Entry]:
    """The entries of a host directory to mirror read-only (I/O kept out of ``bwrap_argv``)."""
    out = []
    for name in sorted(os.listdir(path)):
        if name in skip:
            continue
        full = path / name
        out.append(Entry(name, os.readlink(full) if full.is_symlink() else None))
    return out


def _mirror(prefix: str, entries: Sequence[Entry]) -> list[str]:
    args: list[str] = []
    for entry in entries:
        dest = f"{prefix}/{entry.name}"
        if entry.symlink is not None:
            args += ["--symlink", entry.symlink, dest]
        else:
            args += ["--ro-bind", dest, dest]
    return args


def bwrap_argv(
    *,
    bwrap: str,
    name: str,
    state_root: Path,
    state_dir: Path,
    config_file: Path,
    socket_dir: Path,
    command: Sequence[str],
    top: Sequence[Entry],
    etc: Sequence[Entry],
    extra_ro: Sequence[Path] = (),
) -> list[str]:
    """The full argv. The socket's *directory* is bound, so a socket re-created by a restarted
    daemon (a new inode) is what the agent sees, without restarting the agent."""
    args = [bwrap, "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--hostname", name]
    args += _mirror("", top)
    args += ["--dir", "/etc", *_mirror("/etc", etc)]
    args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", "/run"]  # noqa: S108 - a fresh tmpfs
    for path in extra_ro:
        args += ["--ro-bind", str(path), str(path)]
    args += ["--tmpfs", str(state_root)]  # after the binds: hidden even inside a bound checkout
    args += ["--bind", str(state_dir), SANDBOX_STATE]
    args += ["--ro-bind", str(config_file), SANDBOX_CONFIG]
    args += ["--bind", str(socket_dir), str(PurePosixPath(SANDBOX_SOCKET).parent)]
    args += ["--chdir", SANDBOX_STATE, "--", *command]
    return args


def program_paths(
    command: Sequence[str], env: Mapping[str, str], extra: Sequence[Path], state_root: Path
) -> list[Path]:
    """What the agent program needs that the sandbox would otherwise hide, to bind read-only.

    A checkout or venv under /tmp (a CI clone, a pytest tmp dir) vanishes
    behind the sandbox's own /tmp; so do paths under /run. Absolute paths in
    the command, PYTHONPATH entries and ``extra`` (the interpreter's prefix,
    hyperhive's own source dir) are made visible again — never anything
    inside the state root, which stays hidden.
    """
    candidates = [Path(a) for a in command if a.startswith("/")]
    candidates += [Path(p) for p in env.get("PYTHONPATH", "").split(":") if p.startswith("/")]
    candidates += list(extra)
    out: list[Path] = []
    for path in sorted(set(candidates), key=lambda p: len(p.parts)):
        if not path.exists() or path.is_relative_to(state_root):
            continue
        if any(path.is_relative_to(m) for m in _MASKED) and not any(path.is_relative_to(o) for o in out):
            out.append(path)
    return out


def sandbox_env(
    base: Mapping[str, str], *, marker: str, sandboxed: bool, state_dir: Path, config: Path, socket: Path
) -> dict[str, str]:
    """Environment of the agent: paths as the agent sees them, plus the pass-through keys."""
    from hive_core.launch import ENV_CONFIG, ENV_SOCKET, ENV_STATE

    env = dict(base)
    env["HIVE_CONTAINER"] = marker
    if sandboxed:
        inner = str(PurePosixPath(SANDBOX_SOCKET).parent / socket.name)
        env.update({ENV_CONFIG: SANDBOX_CONFIG, ENV_SOCKET: inner, ENV_STATE: SANDBOX_STATE})
        env["HOME"] = f"{SANDBOX_STATE}/home"
    else:
        env.update({ENV_CONFIG: str(config), ENV_SOCKET: str(socket), ENV_STATE: str(state_dir)})
        env["HOME"] = str(state_dir / "home")
    return env
