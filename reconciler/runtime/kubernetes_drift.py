"""Whether an agent's objects were applied with this host's kubernetes settings (pure).

The fingerprint covers desired state only, so a change of the runtime's own
settings (``HIVE_KUBE_IMAGE``, the broker's URL or CA, ...) would otherwise
never reach an agent that is already placed, and two processes rendering with
different settings (``hive serve`` and a ``hive reconcile`` in another shell)
could not tell. So each StatefulSet records the settings it was applied with
(``hyperhive.dev/settings``, on the StatefulSet itself, not its pod template:
recording them rolls no pod), and ``list`` reports a difference as
``Observed.rebuild``: the planner shows it as an update naming the settings,
and applying it writes the new record. Like the nixos runtime's host inputs.

A StatefulSet without the record (applied by an older hyperhive) is taken
as current, not updated: upgrading rebuilds no agent (and tells no manager it
did); the record is written at its next update.

The namespace is left out: the runtime watches one namespace, so an agent
elsewhere is not listed at all (``docs/kubernetes.md``, moving namespaces).
Long values (the CA's PEM) are recorded as a digest.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from reconciler.model import FieldChange
from reconciler.runtime.kubernetes_objects import Json, KubeSettings

SETTINGS = "hyperhive.dev/settings"
LONG = 120  # a JSON value longer than this is recorded as its digest
PREFIX = "kube."


def settings_record(s: KubeSettings) -> dict[str, Any]:
    """What of ``s`` shaped an agent's objects: each field's value, or ``sha256:...`` for long ones."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(s):
        if f.name == "namespace":
            continue
        text = json.dumps(getattr(s, f.name), sort_keys=True)
        out[f.name] = json.loads(text) if len(text) <= LONG else f"sha256:{_digest(text)}"
    return out


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def recorded(sts: Json, s: KubeSettings) -> Json:
    """``sts`` with the settings it is applied with recorded on it."""
    meta = sts["metadata"]
    notes = {**(meta.get("annotations") or {}), SETTINGS: json.dumps(settings_record(s), sort_keys=True)}
    return {**sts, "metadata": {**meta, "annotations": notes}}


def drift(sts: Json, s: KubeSettings) -> tuple[str, tuple[FieldChange, ...]]:
    """Why ``sts`` must be applied again with ``s`` (the plan's reason and changes), or ("", ())."""
    raw = ((sts.get("metadata") or {}).get("annotations") or {}).get(SETTINGS)
    try:
        old = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        old = None
    if not isinstance(old, dict):
        # applied before records (an older hyperhive): taken as current, recorded at its next update
        return "", ()
    now = settings_record(s)
    keys = sorted(set(now) | set(old))
    changes = tuple(
        FieldChange(f"{PREFIX}{k}", old.get(k), now.get(k)) for k in keys if old.get(k) != now.get(k)
    )
    if not changes:
        return "", ()
    names = ", ".join(c.field.removeprefix(PREFIX) for c in changes)
    return f"kubernetes settings changed ({names}): applying them", changes
