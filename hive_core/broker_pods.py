"""What pods are told about the daemon's own TLS broker, kept where every ``hive`` process finds it.

Without this the operator had two steps for one fact: run ``hive serve
--broker-listen`` once so it makes ``STATE/broker-tls/ca.crt``, then point
``HIVE_KUBE_BROKER_CA`` at it, and spell the URL out again in
``HIVE_KUBE_BROKER_URL``. Now ``hive serve`` (``publish``), before it builds
its runtime, makes the certificate (``broker_certs.ensure_certs``) and records
in ``STATE/broker-tls/pods.json`` the URL pods reach the broker at and the CA
they trust. The kubernetes runtime's settings (``settings_from_env``) take
both from there when the variables are unset, in the daemon and in a
``hive reconcile --runtime kubernetes`` run from another shell alike: both
render the same objects, so the plan shows no spurious change.

The record holds what this daemon told its pods, variables included: a
``HIVE_KUBE_BROKER_URL``/``_CA`` set for ``hive serve`` is recorded too, so a
later ``hive reconcile`` without them agrees. A daemon started without
``--broker-listen`` removes it: its pods have no TLS broker to reach.

The URL: ``tls://HOST:PORT`` with HOST the first ``--broker-san``, else the
listen host; none for a wildcard listen (``0.0.0.0``, ``::``) without
``--broker-san``, or for port 0 (the port is known only once bound, after the
pods' template is rendered). The CA: ours (``broker-tls/ca.crt``) unless the
operator gave ``--broker-cert``; then only ``HIVE_KUBE_BROKER_CA`` can say
which CA signed it, and the runtime refuses to place pods without it
(``own_cert``).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hive_core.broker_certs import ensure_certs

if TYPE_CHECKING:
    from hive_core.tls_broker import BrokerSettings

DIRECTORY = "broker-tls"
RECORD = "pods.json"
ENV_URL = "HIVE_KUBE_BROKER_URL"
ENV_CA = "HIVE_KUBE_BROKER_CA"
WILDCARDS = ("0.0.0.0", "::")


@dataclass(frozen=True)
class PodBroker:
    url: str | None  # tls://HOST:PORT; None: the daemon cannot tell (port 0, a wildcard without a SAN)
    ca_file: str | None  # the CA pods trust; None: the operator's own certificate, CA not given
    own_cert: bool  # --broker-cert: the CA is the operator's to name (HIVE_KUBE_BROKER_CA)


def record_file(state_root: Path) -> Path:
    return state_root / DIRECTORY / RECORD


def pod_url(host: str, port: int, sans: tuple[str, ...]) -> str | None:
    """Where pods reach a broker on ``host:port`` named ``sans`` (the operator's, as given)."""
    name = sans[0] if sans else (None if host in WILDCARDS else host)
    if name is None or port == 0:
        return None
    return f"tls://[{name}]:{port}" if ":" in name else f"tls://{name}:{port}"


def publish(
    state_root: Path, settings: BrokerSettings | None, env: Mapping[str, str] | None = None
) -> PodBroker | None:
    """Make the broker's certificate if it is ours and record what pods are told (None: no broker)."""
    e = os.environ if env is None else env
    path = record_file(state_root)
    if settings is None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return None
    own = settings.cert_file is not None
    ca = e.get(ENV_CA) or None
    if not own:
        made = ensure_certs(state_root / DIRECTORY, settings.sans).ca
        ca = ca or (str(made) if made else None)
    url = e.get(ENV_URL) or pod_url(settings.host, settings.port, settings.given_sans)
    record = PodBroker(url, ca, own)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{RECORD}.tmp")
    tmp.write_text(json.dumps(asdict(record), indent=2) + "\n")
    tmp.replace(path)  # never half-written: a reader sees the old record or the new one
    return record


def read(state_root: Path) -> PodBroker | None:
    """The record ``publish`` left, or None (no broker on, never published, or unreadable)."""
    try:
        data = json.loads(record_file(state_root).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    url, ca = data.get("url"), data.get("ca_file")
    return PodBroker(
        url if isinstance(url, str) else None, ca if isinstance(ca, str) else None, bool(data.get("own_cert"))
    )
