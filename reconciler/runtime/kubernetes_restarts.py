"""Kubernetes' own restarts of an agent, noticed in the pod watch cache and told as crashes.

Kubernetes owns restarts (docs/kubernetes.md): the kubelet restarts a crashed
container, the StatefulSet controller replaces a deleted or evicted pod, and
the reconciler restarts nothing. But a crash must not pass unseen: the local
runtime reports one as a ``container_crash`` event, and so does this one.

The pod cache calls ``RestartLog.see`` after every list and every watch event.
Per agent it keeps a ``PodMark`` (the pod's uid, its controller revision and
its containers' restart count) and compares:

- same uid, restart count up: the container crashed and the kubelet restarted
  it (``lastState.terminated`` says how it ended);
- a new uid at the same controller revision: the pod was deleted or evicted
  and the controller made a new one. A new revision is a roll (our update),
  and the first new pod after our own ``stop`` is our ``start``'s: neither is
  a crash.

A pod being deleted (``deletionTimestamp``) is not marked: the mark stays
the live pod's, so its successor is compared with it. A relist after a 410
compares the same way, so what was already told is not told again; an agent
first seen (the daemon started) is only marked. Each crash gets a number
(``SelfRestart.seq``); the loop reports those it has not reported yet,
whoever else calls ``list`` meanwhile. Pure: no I/O.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass
from typing import Any

from reconciler.model import SelfRestart
from reconciler.runtime.kubernetes_objects import AGENT, FINGERPRINT

Json = dict[str, Any]
KEEP = 20  # per agent: a crash loop keeps the newest, the loop reports each pass's new ones
REVISION_LABEL = "controller-revision-hash"  # the StatefulSet controller's label on its pods


@dataclass(frozen=True)
class PodMark:
    uid: str
    revision: str
    restarts: int


def mark_of(pod: Json) -> PodMark:
    meta = pod.get("metadata") or {}
    revision = (meta.get("labels") or {}).get(REVISION_LABEL) or (meta.get("annotations") or {}).get(
        FINGERPRINT, ""
    )
    states = (pod.get("status") or {}).get("containerStatuses") or []
    return PodMark(
        uid=str(meta.get("uid", "")),
        revision=str(revision),
        restarts=sum(int(c.get("restartCount", 0)) for c in states),
    )


def what_happened(old: PodMark, pod: Json, *, ours: bool) -> str | None:
    """Why the agent's pod changed from ``old`` to ``pod``, if it was a crash; None otherwise.
    ``ours``: our own stop is pending, so a new pod is our start's."""
    new = mark_of(pod)
    name = str((pod.get("metadata") or {}).get("name", "?"))
    if new.uid != old.uid:
        if new.revision != old.revision or ours:
            return None
        return f"pod {name} was deleted or evicted; the StatefulSet controller made a new one"
    if new.restarts > old.restarts:
        return f"container {_ended(pod)}; the kubelet restarted it ({new.restarts} restart(s) so far)"
    return None


def _ended(pod: Json) -> str:
    for c in (pod.get("status") or {}).get("containerStatuses") or []:
        ended = (c.get("lastState") or {}).get("terminated")
        if ended:
            why = f" ({ended['reason']})" if ended.get("reason") else ""
            return f"{c.get('name', '?')} exited with code {ended.get('exitCode', '?')}{why}"
    return "exited"


class RestartLog:
    """Per agent: the pod last seen, and the crashes noticed since this driver started."""

    def __init__(self) -> None:
        self.marks: dict[str, PodMark] = {}
        self.crashes: dict[str, collections.deque[SelfRestart]] = {}
        self.stopping: set[str] = set()
        self.seq = 0

    def see(self, pods: dict[str, Json]) -> None:
        for pod in pods.values():
            meta = pod.get("metadata") or {}
            agent = (meta.get("labels") or {}).get(AGENT)
            if not agent or meta.get("deletionTimestamp"):
                continue  # a pod on its way out: what matters is whether the next one is a new pod
            old = self.marks.get(agent)
            mark = mark_of(pod)
            self.marks[agent] = mark
            if old is None or old == mark:
                continue
            detail = what_happened(old, pod, ours=agent in self.stopping)
            if old.uid != mark.uid:
                self.stopping.discard(agent)
            if detail is not None:
                self.seq += 1
                self.crashes.setdefault(agent, collections.deque(maxlen=KEEP)).append(
                    SelfRestart(self.seq, detail)
                )

    def stopped(self, agent: str) -> None:
        """Our ``stop``: the next new pod is our ``start``'s, not a replacement."""
        self.stopping.add(agent)

    def forget(self, agent: str) -> None:
        """Our ``destroy``: a StatefulSet made again later starts from a first sight."""
        self.marks.pop(agent, None)
        self.stopping.discard(agent)

    def of(self, agent: str) -> tuple[SelfRestart, ...]:
        return tuple(self.crashes.get(agent, ()))
