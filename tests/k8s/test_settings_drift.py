"""An agent applied with other kubernetes settings is due for an update (``kubernetes_drift``), pure.

Against the real apiserver, through the plan ``hive reconcile --dry-run`` prints:
``test_broker_defaults_api.py``.
"""

from __future__ import annotations

import dataclasses
import json

from reconciler.model import FieldChange
from reconciler.runtime import kubernetes_drift as kd
from reconciler.runtime import kubernetes_objects as ko

PEM = "-----BEGIN CERTIFICATE-----\n" + "A" * 400 + "\n-----END CERTIFICATE-----\n"


def applied(s: ko.KubeSettings) -> ko.Json:
    return kd.recorded(ko.stateful_set("alice", "agent", json.dumps({"fingerprint": "f"}), 1, s), s)


def test_the_same_settings_are_no_change_and_rolling_nothing() -> None:
    s = ko.KubeSettings(broker_url="tls://hive.example:7443", broker_ca=PEM)
    sts = applied(s)
    assert kd.drift(sts, s) == ("", ())
    assert kd.SETTINGS not in sts["spec"]["template"]["metadata"]["annotations"]  # recording rolls no pod
    record = json.loads(sts["metadata"]["annotations"][kd.SETTINGS])
    assert record["broker_ca"].startswith("sha256:") and "namespace" not in record


def test_other_settings_are_an_update_naming_them() -> None:
    s = ko.KubeSettings()
    now = dataclasses.replace(s, image="registry.example/agent:2", broker_url="tls://h:1", broker_ca=PEM)
    why, changes = kd.drift(applied(s), now)
    assert why == "kubernetes settings changed (broker_ca, broker_url, image): applying them"
    assert FieldChange("kube.image", s.image, "registry.example/agent:2") in changes
    assert FieldChange("kube.broker_url", None, "tls://h:1") in changes
    assert kd.drift(applied(now), now) == ("", ())  # and once applied, nothing more


def test_an_agent_applied_before_the_record_existed_is_taken_as_current() -> None:
    """Upgrading hyperhive rebuilds no agent: the record is written at its next update."""
    s = ko.KubeSettings()
    sts = ko.stateful_set("alice", "agent", json.dumps({"fingerprint": "f"}), 1, s)
    assert kd.drift(sts, dataclasses.replace(s, image="other:1")) == ("", ())
