"""The I/O at the edge of the sandbox: what this host has, and whether it can sandbox at all.

``scan`` lists what ``sandbox.bwrap_argv`` binds (the allowed ``/etc``
entries present here, the top-level links, the interpreter's and the
harness's real paths, the claude binary's real file); ``support`` checks
once, with the very flags the agents get, that this daemon can build a
sandbox: root, ``bwrap`` and ``setpriv`` installed, and network and pid
namespaces allowed. When it cannot, agents refuse to start with what is
missing and how to fix it (``hive serve --insecure-sandbox`` is the only
way past; see docs/reconciler.md).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from hive_core.identities import AgentIds
from reconciler.runtime.sandbox import CAPS_FOR_SETPRIV, ETC_ALLOWED, TOP_LINKS, Entry, HostRoot, drop_to

HARNESS_PACKAGES = ("hive_kit", "hive_harness")
PROBE_TIMEOUT_S = 20.0


def _real(path: str | Path) -> Path:
    return Path(os.path.realpath(path))


def top_entries(root: Path = Path("/")) -> tuple[Entry, ...]:
    out = []
    for name in sorted(os.listdir(root)):
        full = root / name
        if TOP_LINKS.match(name) and (full.is_symlink() or full.is_dir()):
            out.append(Entry(name, os.readlink(full) if full.is_symlink() else None))
    return tuple(out)


def etc_entries(etc: Path = Path("/etc")) -> tuple[str, ...]:
    """The allowed names this host has (a dangling link, e.g. resolv.conf into an absent /run, stays out)."""
    return tuple(name for name in ETC_ALLOWED if (etc / name).exists())


def harness_code() -> list[Path]:
    """The harness's packages, found the way the agent's interpreter will find them (its system
    prompts are package data inside ``hive_harness``, bound with it)."""
    out = []
    for name in HARNESS_PACKAGES:
        spec = importlib.util.find_spec(name)
        for location in (spec.submodule_search_locations or []) if spec else []:
            out.append(_real(location))
    return out


def claude_binary(env: Mapping[str, str]) -> Path | None:
    """The real file of the claude CLI the harness would run (links resolved: npm's
    ``node_modules/.bin/claude`` and the native installer's ``~/.local/bin/claude`` are both links)."""
    explicit = env.get("HIVE_CLAUDE_BIN")
    candidates: list[str | None] = [explicit] if explicit else []
    for path in harness_code():
        if path.name == "hive_harness":
            candidates.append(str(path.parent / "node_modules" / ".bin" / "claude"))
    candidates.append(shutil.which("claude", path=env.get("PATH")))
    for candidate in candidates:
        if candidate and os.path.isfile(candidate):
            return _real(candidate)
    return None


def command_files(command: Sequence[str]) -> list[Path]:
    """Absolute paths in the agent command that exist (the operator's program and its script)."""
    return [_real(part) for part in command if os.path.isabs(part) and os.path.exists(part)]


def aliases(command: Sequence[str]) -> tuple[tuple[Path, Path], ...]:
    """Directories the command names through a symlink (``/opt/app/.venv`` → ``/srv/app/.venv``):
    the real one is bound, and bound again at the name the command uses. Resolving the command
    itself instead would lose the venv (its ``python`` is a link to the base interpreter)."""
    named = [Path(sys.prefix)] + [Path(part).parent for part in command if os.path.isabs(part)]
    out: list[tuple[Path, Path]] = []
    for path in named:
        real = _real(path)
        if real != Path(os.path.abspath(path)) and real.is_dir() and (path, real) not in out:
            out.append((path, real))
    return tuple(out)


def scan(command: Sequence[str], env: Mapping[str, str], setpriv: str) -> tuple[HostRoot, Path | None]:
    """What every agent's sandbox binds on this host, and the claude binary (bound, and passed in
    ``HIVE_CLAUDE_BIN``)."""
    claude = claude_binary(env)
    paths = [_real(sys.prefix), _real(sys.base_prefix), *harness_code(), *command_files(command)]
    paths += [_real(setpriv)] + ([claude] if claude else [])
    root = HostRoot(
        top=top_entries(),
        etc=etc_entries(),
        ro_paths=tuple(paths),
        nix=Path("/nix").is_dir(),
        setpriv=str(_real(setpriv)),
        aliases=aliases(command),
    )
    return root, claude


# ---- can this host sandbox? ----------------------------------------------------------------------


@dataclass(frozen=True)
class Support:
    bwrap: str | None
    setpriv: str | None
    problem: str | None = None  # what is missing and the fix; None: agents can be sandboxed

    @property
    def ok(self) -> bool:
        return self.problem is None


def support(probe_ids: AgentIds) -> Support:
    """Whether this daemon can sandbox agents as ``sandbox.bwrap_argv`` does, and if not, why."""
    bwrap, setpriv = shutil.which("bwrap"), shutil.which("setpriv")
    return Support(bwrap, setpriv, _problem(bwrap, setpriv, os.geteuid(), probe_ids))


@functools.cache
def _problem(bwrap: str | None, setpriv: str | None, euid: int, ids: AgentIds) -> str | None:
    if euid != 0:
        return (
            f"hive serve runs as uid {euid}, not root: building each agent's namespaces and running it "
            "as its own uid needs root. Fix: run `hive serve` as root (the NixOS module does)"
        )
    if bwrap is None:
        return (
            "bubblewrap (bwrap) is not installed. Fix: install it "
            "(Debian/Ubuntu: apt install bubblewrap; NixOS: pkgs.bubblewrap)"
        )
    if setpriv is None:
        return (
            "setpriv is not installed. Fix: install util-linux "
            "(Debian/Ubuntu: apt install util-linux; NixOS: pkgs.util-linux)"
        )
    argv = [bwrap, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts"]
    argv += ["--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--cap-drop", "ALL"]
    for cap in CAPS_FOR_SETPRIV:
        argv += ["--cap-add", cap]
    argv += ["--", *drop_to(setpriv, ids), setpriv, "--dump"]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap could not be run ({exc}). Fix: check that {bwrap} is a working bubblewrap"
    if out.returncode != 0:
        why = (out.stderr.strip().splitlines() or [f"exit code {out.returncode}"])[-1]
        return (
            f"bwrap cannot create network and pid namespaces here ({why}). Fix: allow namespaces "
            "(in a container: give it CAP_SYS_ADMIN, or a seccomp profile that permits unshare and mount)"
        )
    return None
