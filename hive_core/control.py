"""The seams between the host core and the reconciler, as Protocols.

The daemon (``hive serve``) owns one ``HostCore``; the reconciler plugs into it
through ``HostCore.attach_reconciler`` (a ``ReconcilerControl``) and reads
harness health through ``HostCore.harnesses`` (a ``HarnessRegistry``). Until a
reconciler is attached, the manager's ``restart``/``update`` and the
operator's ``reconcile_now``/``status``/``restart``/``rebuild`` (and the
dashboard's restart, rebuild and purge) answer "the reconciler is not running".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class ReconcilerControl(Protocol):
    """What the host core may ask of the reconciler. Every method returns quickly."""

    def request_reconcile(self, reason: str) -> None:
        """Wake the loop for a full pass (level-triggered: no per-agent detail needed)."""

    async def restart(self, name: str, by: str = "") -> str:
        """Stop and start one agent's container as it is (no rebuild); returns a note for the caller.

        ``by`` says who asked, for the action's history. Raise ``NotFoundError``
        for an unknown agent, ``UserError`` when the agent is stopped or
        suspended in desired state, ``ConflictError`` while an action for it runs.
        """

    async def update(self, name: str) -> str:
        """Redeploy one agent from current desired state in place (the manager's `update`); a note."""

    async def rebuild(self, name: str, by: str = "") -> str:
        """Destroy and create one agent's container again from current desired state, keeping its
        /state (the operator's `hive rebuild`, the dashboard's button); raises as ``restart``."""

    def status(self) -> Mapping[str, Any]:
        """JSON-able status: per agent its conditions and revisions (shown by `hive status`)."""

    async def plan_text(self) -> tuple[list[str], bool]:
        """The dry run now as `hive reconcile --dry-run` prints it, and whether it changes anything."""

    async def logs(self, name: str, lines: int) -> list[str]:
        """The last ``lines`` lines of ``name``'s harness log (empty: none yet)."""

    async def purge(self, name: str) -> Mapping[str, Any]:
        """Delete the kept state dir of an agent gone from desired state; the purge action as JSON.

        Raise ``NotFoundError`` when ``name`` has no kept state (or is still in desired state).
        The reconciler deletes it in a pass of its own; the caller never touches the disk.
        """


class HarnessRegistry(Protocol):
    """Which harnesses have said `hello`, and when. Fed by the agents' sockets.

    The one protocol for it: the daemon's ``hive_core.harnesses.Harnesses``,
    the one-shot `hive reconcile`'s listener and the reconciler's fallback
    (``reconciler.health.AliveHealth``) all implement it; the health gate
    waits on ``wait_hello``.
    """

    async def wait_hello(self, name: str, since: float, timeout: float) -> bool:
        """True once ``name`` has said hello at or after ``since`` (unix seconds); False on timeout."""

    def last_hello(self, name: str) -> HelloRecord | None:
        """The most recent hello from ``name`` since the daemon started, if any."""


class HelloRecord(Protocol):
    """One hello, read-only (``hive_core.harnesses.Hello`` is a frozen dataclass)."""

    @property
    def name(self) -> str: ...

    @property
    def pid(self) -> int: ...

    @property
    def web_port(self) -> int: ...

    @property
    def at(self) -> float:
        """Unix seconds."""
        ...
