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

from hive_kit.launch import SANDBOX_CONFIG, SANDBOX_SOCKET, SANDBOX_STATE

_SKIP_TOP = frozenset({"proc", "dev", "tmp", "run", "state", "lost+found", "etc"})
_SKIP_ETC = frozenset({"hyperhive"})
_FRESH = ("tmp", "run")  # replaced by an empty tmpfs inside the sandbox


def code_paths(command: Sequence[str], extra: Sequence[Path] = ()) -> list[Path]:
    """Host paths the agent's program needs that the fresh /tmp and /run would hide.

    A checkout (or its venv) can live under /tmp — CI clones do — and then the
    interpreter, hyperhive's own source and node_modules/.bin/claude vanish
    inside the sandbox. Those few paths are bound back read-only.
    """
    import sys

    import reconciler

    wanted = [Path(sys.prefix), Path(sys.base_prefix), Path(reconciler.__file__).resolve().parents[1]]
    wanted += [Path(c).parent for c in command[:1] if os.path.isabs(c)] + list(extra)
    out: list[Path] = []
    for path in wanted:
        if len(path.parts) > 2 and path.parts[1] in _FRESH and path.exists() and path not in out:
            out.append(path)
    return out


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
    code: Sequence[Path] = (),
) -> list[str]:
    """The full argv. The socket's *directory* is bound, so a socket re-created by a restarted
    daemon (a new inode) is what the agent sees, without restarting the agent.

    ``code`` (see ``code_paths``) is bound read-only over the fresh /tmp and
    /run, before the state root is hidden, so a checkout holding the state dir
    exposes no other agent's files.
    """
    args = [bwrap, "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--hostname", name]
    args += _mirror("", top)
    args += ["--dir", "/etc", *_mirror("/etc", etc)]
    args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", "/run"]  # noqa: S108 - a fresh tmpfs
    for path in code:
        args += ["--ro-bind", str(path), str(path)]
    args += ["--tmpfs", str(state_root)]
    args += ["--bind", str(state_dir), SANDBOX_STATE]
    args += ["--ro-bind", str(config_file), SANDBOX_CONFIG]
    args += ["--bind", str(socket_dir), str(PurePosixPath(SANDBOX_SOCKET).parent)]
    args += ["--chdir", SANDBOX_STATE, "--", *command]
    return args


def sandbox_env(
    base: Mapping[str, str], *, marker: str, sandboxed: bool, state_dir: Path, config: Path, socket: Path
) -> dict[str, str]:
    """Environment of the agent: paths as the agent sees them, plus the pass-through keys."""
    from hive_kit.launch import ENV_CONFIG, ENV_SOCKET, ENV_STATE

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
