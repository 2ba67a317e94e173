"""Saying so when hive.json's ``kubernetes_namespace`` moves under a running kubernetes runtime.

The runtime watches one namespace, chosen when it starts (the caches, the
daemon's Role): a new ``kubernetes_namespace`` takes effect at the next
``hive serve``, and nothing in the old namespace is moved. Until then the
operator who edited hive.json would see nothing happen. So ``list`` asks
``NamespaceWatch.note`` each pass: when desired state names another namespace
than the one `hive serve` places agents in (its own, or, in another process,
the one it recorded: ``record_placed``), every agent listed carries the note
(``Observed.warning``: the dashboard, the loop's statuses), `hive status
--runtime kubernetes` prints it under its table (its agents are in the old
namespace, so it lists none of them), and each process logs one warning per
move, not one per pass.

``HIVE_KUBE_NAMESPACE`` wins over hive.json (``namespace_from_env``), so a
host pinned to a namespace is never told to move. The meta repo is read again
only when its main branch moves; a pass otherwise costs one ref lookup.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from hive_kit.errors import HiveError
from hive_kit.paths import StateLayout

log = logging.getLogger(__name__)


def moved_note(placed: str, desired: str) -> str:
    """What a status says while desired state names another namespace than ``placed`` ("" if none)."""
    if desired == placed:
        return ""
    return (
        f"hive.json's kubernetes_namespace is {desired!r}, but hive serve places agents in {placed!r}: "
        f"restart hive serve to move to namespace {desired}; agents in {placed} are not moved "
        "(destroy them first, or move them yourself)"
    )


RECORD = "kubernetes-namespace"
"""``STATE/kubernetes-namespace``: where `hive serve` places agents (``record_placed``), so a
command run in another shell with a new hive.json can say where the agents still are."""


def record_placed(layout: StateLayout, namespace: str) -> None:
    """Written by `hive serve --runtime kubernetes` at start; kept after it stops (so are its agents)."""
    path = layout.root / RECORD
    tmp = path.with_name(f".{RECORD}.tmp")
    tmp.write_text(namespace + "\n")
    tmp.replace(path)


def placed(layout: StateLayout) -> str | None:
    try:
        return (layout.root / RECORD).read_text().strip() or None
    except OSError:
        return None


class NamespaceWatch:
    """The namespace desired state names, compared with the one `hive serve` places agents in."""

    def __init__(self, layout: StateLayout, running: str, *, env: Mapping[str, str] | None = None) -> None:
        self.layout = layout
        self.running = running
        self._env = os.environ if env is None else env
        self._head: object = None
        self._desired = running
        self._warned: tuple[str, str] | None = None

    def _meta_head(self) -> object:
        if not (self.layout.meta / "HEAD").exists():
            return None
        from desired.repo import MetaRepo

        return MetaRepo(self.layout.meta).head()

    def note(self) -> str:
        """The note for now ("" if none); logs a warning once per namespace desired state moves to."""
        if self._env.get("HIVE_KUBE_NAMESPACE"):
            return ""  # pinned by the operator for this host: hive.json does not move it
        from reconciler.runtime.kubernetes import namespace_from_env

        try:
            head = self._meta_head()
            if head is None or head != self._head:
                self._head, self._desired = head, namespace_from_env(self._env, self.layout)
        except HiveError as exc:  # an invalid hive.json is the loop's to report, not a list's to fail
            log.debug("kubernetes runtime: cannot read desired state's namespace: %s", exc)
        where = placed(self.layout) or self.running
        note = moved_note(where, self._desired)
        if note and self._warned != (where, self._desired):
            log.warning("kubernetes runtime: %s", note)
        self._warned = (where, self._desired) if note else None
        return note
