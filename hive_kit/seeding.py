"""A new agent's seed files (``desired.seeds``), placed in its /state when the agent is created.

Two callers, one routine: the reconciler on this host (``reconciler.seeding``: the local and nixos
runtimes' state dirs), and ``hive-harness seed`` in a pod's init container (the kubernetes runtime,
whose /state is a volume the host never sees; ``place_from_file`` below). So it lives in the kit,
which is all an agent image has.

The rule: **a seed fills a gap, never overwrites.** Each file is written only where nothing is
(not a file, not a link, not a directory), so an agent re-created over its kept state dir, or a
seed edited after the agent ran, never clobbers what the agent wrote. Editing a seed later
changes nothing in a running agent's /state (and restarts nothing: seeds are not in the fingerprint).

Why this is careful: the daemon is root and the state dir is the agent's, so on a re-create any
name in it may be a link the agent planted (``notes -> /etc``). Every step goes through a
directory fd opened with ``O_NOFOLLOW``; a file is written under a temporary name and ``link``ed
into place, which fails if the name exists: atomic, no overwrite, nothing half-written (a crash
leaves at most a stray ``.seed-*`` temp file, never a half-written seed). Files are 0600 and directories
0700, owned by the agent's uid and gid (the runtime's ``agent_uid``) when it has one.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


@dataclass
class Placed:
    """What ``place_seeds`` did, path by path (relative to /state)."""

    written: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # something was already there
    skipped: list[str] = field(default_factory=list)  # a parent is a link or not a directory

    def summary(self, name: str) -> str:
        return f"agent {name}: {self.describe()}"

    def describe(self) -> str:
        parts = [f"seed files: {len(self.written)} placed"]
        if self.kept:
            parts.append(f"{len(self.kept)} kept as they were ({', '.join(self.kept)})")
        if self.skipped:
            parts.append(
                f"{len(self.skipped)} skipped: a parent is a link or a file ({', '.join(self.skipped)})"
            )
        return "; ".join(parts)


def place_seeds(state_dir: Path, seeds: Mapping[str, bytes], owner: int | None) -> Placed:
    """Write each of ``seeds`` under ``state_dir`` where nothing is; ``owner``: the agent's uid (= gid)."""
    done = Placed()
    if not seeds:
        return done
    created = _make_dir(state_dir)
    root = os.open(state_dir, _DIR_FLAGS)
    try:
        if created and owner is not None:
            os.fchown(root, owner, owner)
        for rel in sorted(seeds):
            _place(root, rel, seeds[rel], owner, done)
    finally:
        os.close(root)
    return done


def _make_dir(state_dir: Path) -> bool:
    state_dir.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        state_dir.mkdir(mode=0o700)
    except FileExistsError:
        return False
    return True


def _place(root: int, rel: str, data: bytes, owner: int | None, done: Placed) -> None:
    *dirs, leaf = rel.split("/")
    fds: list[int] = []
    try:
        parent = root
        for part in dirs:
            parent = _subdir(parent, part, owner)
            fds.append(parent)
        if _write_new(parent, leaf, data, owner):
            done.written.append(rel)
        else:
            done.kept.append(rel)
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.ENOTDIR, errno.EEXIST):
            raise
        log.warning("seed %s not placed: a parent is a link or not a directory (%s)", rel, exc)
        done.skipped.append(rel)
    finally:
        for fd in fds:
            os.close(fd)


def _subdir(parent: int, part: str, owner: int | None) -> int:
    """``part`` under ``parent`` as a directory fd; made (0700, the agent's) if missing, never followed."""
    made = False
    try:
        os.mkdir(part, 0o700, dir_fd=parent)
        made = True
    except FileExistsError:
        pass
    fd = os.open(part, _DIR_FLAGS, dir_fd=parent)
    if made and owner is not None:
        os.fchown(fd, owner, owner)
    return fd


def _write_new(parent: int, leaf: str, data: bytes, owner: int | None) -> bool:
    """``leaf`` with ``data`` if no entry of that name exists; False if one does (left as it is)."""
    try:
        os.stat(leaf, dir_fd=parent, follow_symlinks=False)
        return False
    except FileNotFoundError:
        pass
    tmp = f".seed-{secrets.token_hex(6)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=parent)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
            if owner is not None:
                os.fchown(fd, owner, owner)
        finally:
            os.close(fd)
        try:
            os.link(tmp, leaf, src_dir_fd=parent, dst_dir_fd=parent, follow_symlinks=False)
        except FileExistsError:
            return False  # the agent made it meanwhile: theirs stands
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp, dir_fd=parent)


# ---- in a pod: the init container's half (the kubernetes runtime) --------------------------------

BUNDLE_FILE = "seeds.json"  # the one key of the agent's seed ConfigMap: {"id": ..., "files": {path: text}}
MARKER = ".hive-seeded"  # in /state: the id of the last bundle placed (seed paths are never dotfiles)


def encode_bundle(seed_id: str, seeds: Mapping[str, bytes]) -> str:
    """The seed ConfigMap's ``seeds.json``: seeds are UTF-8 text (``desired.seeds`` checks it), so
    JSON carries them without base64; ``seed_id`` is new at each create (``place_from_file``)."""
    files = {rel: data.decode("utf-8") for rel, data in sorted(seeds.items())}
    return json.dumps({"id": seed_id, "files": files}, ensure_ascii=False, sort_keys=True)


def place_from_file(bundle: Path, state_dir: Path) -> str:
    """What ``hive-harness seed`` does before the harness starts: the bundle's files into /state,
    where nothing is, once per create. One line saying what happened.

    An init container runs at every start of the pod, not only the first; the local runtime seeds
    only at a create. So the bundle's id (new at each create) is kept in /state/.hive-seeded, and a
    bundle already placed is skipped: a seed the agent deleted stays deleted across restarts, and a
    re-create (destroy keeps the volume) fills the gaps again, as the local runtime does."""
    try:
        raw = bundle.read_text(encoding="utf-8")
    except FileNotFoundError:
        return "seed: no seed files for this agent"
    data = json.loads(raw)
    seed_id, files = str(data["id"]), dict(data["files"])
    root = os.open(state_dir, _DIR_FLAGS)
    try:
        if _read_marker(root) == seed_id:
            return f"seed: bundle {seed_id} was placed before; nothing to do"
        seeds = {rel: str(text).encode("utf-8") for rel, text in files.items() if _plain(rel)}
        done = Placed(skipped=sorted(rel for rel in files if not _plain(rel)))
        for rel in sorted(seeds):
            _place(root, rel, seeds[rel], None, done)
        _write_marker(root, seed_id)
    finally:
        os.close(root)
    return f"seed: bundle {seed_id}: {done.describe()}"


def _plain(rel: str) -> bool:
    """The daemon sends checked paths (``desired.seeds``); this refuses anything that could leave
    /state all the same, since ``_place`` walks components by name."""
    return bool(rel) and not rel.startswith("/") and all(p not in ("", ".", "..") for p in rel.split("/"))


def _read_marker(root: int) -> str | None:
    try:
        fd = os.open(MARKER, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=root)
    except OSError:
        return None  # absent, or a link someone planted: not a marker
    try:
        return os.read(fd, 256).decode("utf-8", "replace").strip()
    finally:
        os.close(fd)


def _write_marker(root: int, seed_id: str) -> None:
    tmp = f".seed-{secrets.token_hex(6)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=root)
    try:
        os.write(fd, seed_id.encode())
    finally:
        os.close(fd)
    os.replace(tmp, MARKER, src_dir_fd=root, dst_dir_fd=root)  # replaces a planted link, never follows it
