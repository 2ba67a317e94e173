"""Each agent's own host uid and gid, and the file modes that let that uid (and no other) in.

Why a uid per agent: an agent is an LLM with a shell and is treated as
hostile. Its sandbox hides the host's files and network, but the kernel's
oldest boundary still matters behind it: a process of uid 60101 cannot
signal, ptrace or read the files of uid 60102, whatever a mount leaked. The
daemon stays root (it builds each sandbox's namespaces and chowns); each
agent drops to its own uid inside (``reconciler.runtime.sandbox``).

Allocation: the lowest free uid of the configured range (default
60100-60999; ``hive serve --agent-uids A-B`` or ``$HIVE_AGENT_UIDS``) that
no host account uses, sticky per agent name and kept in ``hive.sqlite``
(table ``agent_ids``), so a restarted daemon, and the state dir that uid
owns, agree. gid = uid: one group per agent. A purged agent's uid goes back
to the pool (``release``).

Two swarms on one host (two state dirs, two daemons) draw from the same
range, so each table alone would hand out the same uids twice, and an agent of
one swarm could read the other's files. The host-wide claims (``HostClaims``:
one file per uid under ``/var/lib/hyperhive-uids``, or ``$HIVE_UID_REGISTRY``,
naming the state dir that holds it, taken under an ``flock``) keep them apart:
a uid another live state dir claims is skipped, and a claim whose state dir is
gone is stale and reused.

Modes (``grant_run_dir``, ``secure_socket``): an agent's socket directory
(``run/agents/<name>/``, the manager's ``run/manager/``, bound at
``/run/hive``) is ``root:G 0750``; the daemon's sockets in it
(``hive.sock``, ``egress.sock``) are ``root:G 0660`` and are created 0600
under a umask first, so no socket is ever open to anyone else, not even for
an instant; ``page/`` is ``U:G 0700`` (the harness serves its page there).
Everything is changed through a file descriptor opened with ``O_NOFOLLOW``,
or inside a directory only root can write, so a link an agent planted is
never followed.

The store has its own connection: writes happen off the event loop
(``asyncio.to_thread``) because the daemon's group commit may hold the
write lock for the rest of the loop turn.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import pwd
import stat
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import apsw

from hive_kit.errors import PermanentError, UserError

log = logging.getLogger(__name__)

ENV_AGENT_UIDS = "HIVE_AGENT_UIDS"
DEFAULT_UIDS = "60100-60999"
ENV_UID_REGISTRY = "HIVE_UID_REGISTRY"
DEFAULT_UID_REGISTRY = Path("/var/lib/hyperhive-uids")
DAEMON_SOCKETS = ("hive.sock", "egress.sock", "model.sock")
PAGE_DIR = "page"

MIGRATION_IDENTITIES = """
CREATE TABLE agent_ids (
    name TEXT PRIMARY KEY,
    uid INTEGER NOT NULL UNIQUE,
    allocated_at REAL NOT NULL
);
"""
"""Part of the core store's migrations (hive_core.stores.schema)."""


@dataclass(frozen=True)
class UidRange:
    first: int
    last: int

    def __str__(self) -> str:
        return f"{self.first}-{self.last}"

    def __contains__(self, uid: object) -> bool:
        return isinstance(uid, int) and self.first <= uid <= self.last

    @classmethod
    def parse(cls, text: str) -> UidRange:
        """``A-B`` (inclusive); a UserError that says how to write it otherwise."""
        first, sep, last = text.strip().partition("-")
        fix = f"write it as FIRST-LAST, e.g. {DEFAULT_UIDS}"
        if not sep or not first.strip().isdigit() or not last.strip().isdigit():
            raise UserError(f"agent uid range {text!r} is not a range; {fix}")
        out = cls(int(first), int(last))
        if not 1000 <= out.first <= out.last < 65534:
            raise UserError(
                f"agent uid range {text!r} must lie within 1000-65533 and run upwards "
                f"(system accounts below, nobody above); {fix}"
            )
        return out

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> UidRange:
        source = os.environ if env is None else env
        return cls.parse(source.get(ENV_AGENT_UIDS) or DEFAULT_UIDS)


@dataclass(frozen=True)
class AgentIds:
    uid: int
    gid: int


def host_account_exists(uid: int) -> bool:
    """Whether a host account has this uid (its files, its processes): never hand it to an agent."""
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True


class HostClaims:
    """Which state dir on this host holds each agent uid: ``<root>/<uid>`` names it (JSON).

    ``owner`` is this swarm's state dir. Every read-and-claim happens under ``locked()``, an
    ``flock`` on ``<root>/.lock`` that two daemons (or a daemon and a one-shot `hive
    reconcile`) take in turn. The directory is root's, 0700: no agent sees it.
    """

    def __init__(self, root: Path, owner: Path) -> None:
        self.root = root
        self.owner = str(owner.resolve())

    @classmethod
    def from_env(cls, owner: Path, env: dict[str, str] | None = None) -> HostClaims | None:
        """The host's claims, or None when the daemon is not root (no agent gets a uid of its own)."""
        if not can_chown():
            return None
        source = os.environ if env is None else env
        return cls(Path(source.get(ENV_UID_REGISTRY) or DEFAULT_UID_REGISTRY), owner)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        try:
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise PermanentError(
                f"cannot open the host's uid claims in {self.root}: {exc.strerror}; make it a directory "
                f"root can write, or point {ENV_UID_REGISTRY} at one"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # drops the lock

    def holder(self, uid: int) -> str | None:
        """The other live state dir that holds ``uid``, or None (free, ours, or stale)."""
        path = self.root / str(uid)
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        try:
            held_by = str(json.loads(text)["state_dir"])
        except (ValueError, KeyError, TypeError):
            log.warning("uid claim %s is unreadable; uid %d stays reserved until you remove it", path, uid)
            return f"(unreadable claim {path})"
        if held_by == self.owner or not Path(held_by).exists():
            return None  # ours, or its swarm's state dir is gone
        return held_by

    def claim(self, uid: int, name: str) -> None:
        path = self.root / str(uid)
        body = json.dumps({"state_dir": self.owner, "agent": name}, sort_keys=True) + "\n"
        with contextlib.suppress(FileNotFoundError):
            if path.read_text() == body:
                return
        tmp = path.with_name(f".{uid}.tmp")
        tmp.write_text(body)
        os.replace(tmp, path)

    def release(self, uid: int) -> None:
        if self.holder(uid) is None:  # never drop a claim another swarm holds
            with contextlib.suppress(FileNotFoundError):
                (self.root / str(uid)).unlink()


class Identities:
    """name → uid/gid, allocated on first ask. Synchronous; call it off the event loop."""

    def __init__(
        self,
        conn: apsw.Connection,
        uid_range: UidRange,
        *,
        taken: Callable[[int], bool] = host_account_exists,
        clock: Callable[[], float] = time.time,
        claims: HostClaims | None = None,
    ) -> None:
        self.conn = conn
        self.range = uid_range
        self.taken = taken
        self.clock = clock
        self.claims = claims
        """The host-wide claims shared with other swarms; None = this table alone decides."""
        # One statement or transaction at a time on the connection, whichever thread: apsw
        # refuses a second thread (and ``close``) while one is busy. Reentrant, because
        # ``release`` looks up inside its transaction.
        self._lock = threading.RLock()

    @classmethod
    def open(cls, db: Path, uid_range: UidRange | None = None) -> Identities:
        """Its own connection to the core store at ``db`` (migrated on open)."""
        from hive_core.stores.schema import open_core_db

        return cls(open_core_db(db), uid_range or UidRange.from_env(), claims=HostClaims.from_env(db.parent))

    def _host_lock(self) -> contextlib.AbstractContextManager[None]:
        return self.claims.locked() if self.claims is not None else contextlib.nullcontext()

    def close(self) -> None:
        """Waits for a call still running in a worker thread (a cancelled ``to_thread`` runs on)."""
        with self._lock:
            self.conn.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[None]:
        """One IMMEDIATE transaction: read the free uids and claim one under the write lock."""
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def known(self) -> dict[str, AgentIds]:
        with self._lock:
            rows = self.conn.execute("SELECT name, uid FROM agent_ids ORDER BY name").fetchall()
        return {str(row[0]): AgentIds(_int(row[1]), _int(row[1])) for row in rows}

    def lookup(self, name: str) -> AgentIds | None:
        with self._lock:
            row = self.conn.execute("SELECT uid FROM agent_ids WHERE name = ?", (name,)).fetchone()
        return None if row is None else AgentIds(_int(row[0]), _int(row[0]))

    def for_agent(self, name: str) -> AgentIds:
        """The agent's ids: its recorded ones, or the lowest free uid of the range (recorded now)."""
        found = self.lookup(name)
        elsewhere = None
        if found is not None and found.uid in self.range:
            if self.claims is None:
                return found
            with self.claims.locked():
                elsewhere = self.claims.holder(found.uid)
                if elsewhere is None:
                    self.claims.claim(found.uid, name)
                    return found
        claims = self.claims
        with self._host_lock(), self._write():
            held = {
                int(r[0]) for r in self.conn.execute("SELECT uid FROM agent_ids WHERE name != ?", (name,))
            }
            uid = next(
                (
                    u
                    for u in range(self.range.first, self.range.last + 1)
                    if u not in held and not self.taken(u) and (claims is None or claims.holder(u) is None)
                ),
                None,
            )
            if uid is None:
                raise PermanentError(
                    f"agent {name}: no free uid in {self.range} ({len(held)} agents of this swarm hold uids "
                    f"there{'' if claims is None else f', other swarms claim more in {claims.root}'}); "
                    "widen the range with `hive serve --agent-uids FIRST-LAST` (or HIVE_AGENT_UIDS)"
                )
            self.conn.execute(
                "INSERT INTO agent_ids (name, uid, allocated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET uid = excluded.uid, allocated_at = excluded.allocated_at",
                (name, uid, self.clock()),
            )
            if claims is not None:
                claims.claim(uid, name)
        if elsewhere is not None and found is not None:
            log.warning(
                "agent %s: uid %d is also claimed by the swarm at %s; it gets uid %d now "
                "(its state dir is handed over at start)",
                name,
                found.uid,
                elsewhere,
                uid,
            )
        elif found is not None:
            log.warning(
                "agent %s: uid %d is outside the range %s; it gets uid %d now",
                name,
                found.uid,
                self.range,
                uid,
            )
        else:
            log.info("agent %s: allocated uid/gid %d", name, uid)
        return AgentIds(uid, uid)

    def release(self, name: str) -> bool:
        """Give the agent's uid back to the pool (its state dir is gone: nothing owns files with it)."""
        with self._host_lock(), self._write():
            gone = self.lookup(name)
            self.conn.execute("DELETE FROM agent_ids WHERE name = ?", (name,))
            if gone is not None and self.claims is not None:
                self.claims.release(gone.uid)
        if gone is not None:
            log.info("agent %s: released uid %d", name, gone.uid)
        return gone is not None


def _int(value: object) -> int:
    if not isinstance(value, int):
        raise PermanentError(f"the agent_ids table holds {value!r} where a uid belongs; restore hive.sqlite")
    return value


# ---- modes ----------------------------------------------------------------------------------------


def can_chown() -> bool:
    """Only root can give files to agents' uids; without it every door stays the daemon's own (0600)."""
    return os.geteuid() == 0


def secure_socket(path: Path, ids: AgentIds | None) -> None:
    """A daemon socket the agent may connect to: ``root:G 0660``; without ids ``0600``.

    The socket was created 0600 (umask), and its directory is writable by root alone, so
    the path cannot have been swapped for a link between creating and changing it.
    """
    if ids is None:
        os.chmod(path, 0o600)
        return
    os.chown(path, os.geteuid(), ids.gid, follow_symlinks=False)
    os.chmod(path, 0o660)


def grant_run_dir(run_dir: Path, ids: AgentIds | None) -> None:
    """The agent's socket directory: ``root:G 0750``, its daemon sockets ``root:G 0660``, ``page/``
    ``U:G 0700``. Without ids (no root, or no agent behind it yet): ``0700``, the daemon's alone."""
    run_dir.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(FileExistsError):
        run_dir.mkdir(mode=0o700)
    fd = os.open(run_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        if ids is None:
            os.fchmod(fd, 0o700)
            return
        os.fchown(fd, os.geteuid(), ids.gid)
        os.fchmod(fd, 0o750)
        for name in DAEMON_SOCKETS:
            with contextlib.suppress(FileNotFoundError):
                if stat.S_ISSOCK(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode):
                    os.chown(name, os.geteuid(), ids.gid, dir_fd=fd, follow_symlinks=False)
                    os.chmod(name, 0o660, dir_fd=fd)
        _own_dir(fd, PAGE_DIR, ids)
    finally:
        os.close(fd)


def _own_dir(parent_fd: int, name: str, ids: AgentIds) -> None:
    """``name`` under ``parent_fd`` as a directory of the agent's, 0700 (never through a link)."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(name, 0o700, dir_fd=parent_fd)
    try:
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent_fd)
    except OSError as exc:
        raise PermanentError(
            f"{name} in the agent's socket dir is not a directory ({exc.strerror}); remove it and retry"
        ) from exc
    try:
        os.fchown(fd, ids.uid, ids.gid)
        os.fchmod(fd, 0o700)
    finally:
        os.close(fd)
