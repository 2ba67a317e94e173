"""Giving an agent its own state dir: ``U:G 0700``, changed without ever following the agent's links.

The state dir is the agent's to write, so anything in it may be a link the
agent planted (``home -> /etc``). Every change here goes through a file
descriptor opened with ``O_NOFOLLOW`` or through ``lchown``-style calls
relative to one (``os.fwalk`` keeps directory fds and never descends into
a link), so the daemon, which is root, only ever touches the agent's own
inodes.

A state dir from before agents had uids (owned by root) is handed over
whole, once; afterwards only its top level is checked at each start (a file
the operator dropped in, such as ``secrets.env``, becomes the agent's). A
file with more than one link is never given away: it may be a host file
hard-linked in.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

from hive_core.identities import AgentIds

log = logging.getLogger(__name__)


def private_dir(path: Path) -> None:
    """A directory of the daemon's own, 0700 (the agent's host dir: its state, build and log)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        os.fchmod(fd, 0o700)
    finally:
        os.close(fd)


def own_state_dir(state_dir: Path, ids: AgentIds) -> None:
    """``state_dir`` and ``home/`` in it as the agent's own, 0700; older content handed over."""
    with contextlib.suppress(FileExistsError):
        state_dir.mkdir(mode=0o700)
    fd = os.open(state_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        handed_over = os.fstat(fd).st_uid == ids.uid
        if handed_over:
            _top_level(fd, ids)
        else:
            count = _whole_tree(fd, ids)
            log.info("state dir %s handed to uid %d (%d entries)", state_dir, ids.uid, count)
        os.fchown(fd, ids.uid, ids.gid)
        os.fchmod(fd, 0o700)
        _home(fd, ids)
    finally:
        os.close(fd)


def _give(name: str, dir_fd: int, ids: AgentIds) -> bool:
    try:
        info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    if info.st_uid == ids.uid and info.st_gid == ids.gid:
        return False
    if not stat.S_ISDIR(info.st_mode) and info.st_nlink > 1:
        log.warning("not giving %s to uid %d: it has %d links", name, ids.uid, info.st_nlink)
        return False
    os.chown(name, ids.uid, ids.gid, dir_fd=dir_fd, follow_symlinks=False)
    return True


def _top_level(fd: int, ids: AgentIds) -> None:
    for name in os.listdir(fd):
        _give(name, fd, ids)


def _whole_tree(fd: int, ids: AgentIds) -> int:
    count = 0
    for _root, dirs, files, dir_fd in os.fwalk(dir_fd=fd, follow_symlinks=False):
        for name in (*dirs, *files):
            count += _give(name, dir_fd, ids)
    return count


def _home(fd: int, ids: AgentIds) -> None:
    """``home/`` (HOME=/state/home) made the agent's if we create it; an existing one is its business."""
    try:
        os.mkdir("home", 0o700, dir_fd=fd)
    except FileExistsError:
        return
    home = os.open("home", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
    try:
        os.fchown(home, ids.uid, ids.gid)
    finally:
        os.close(home)
