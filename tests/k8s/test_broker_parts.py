"""The TLS broker's pure parts: reading a TokenReview, the certificate it makes, the pod's side.

No cluster: these are functions over data (and files in a temp dir). The end-to-end
refusals against the real apiserver are in ``test_broker.py``.
"""

from __future__ import annotations

import datetime as dt
import json
import stat
from pathlib import Path
from typing import Any

import pytest

from hive_core.broker_certs import ensure_certs
from hive_core.tokenreview import TokenOwner, check_pod, owner_from_review
from hive_kit.broker import DEFAULT_TOKEN_FILE, BrokerEndpoint, parse_url
from hive_kit.errors import ForbiddenError, PermanentError, UserError
from reconciler.runtime import kubernetes_objects as ko
from reconciler.runtime.kubernetes import settings_from_env

NS = "swarm"
POD = "authentication.kubernetes.io/pod-name"
UID = "authentication.kubernetes.io/pod-uid"


def review(username: str = "system:serviceaccount:swarm:hive-alice", **over: Any) -> dict[str, Any]:
    status: dict[str, Any] = {
        "authenticated": True,
        "audiences": ["hyperhive-broker"],
        "user": {"username": username, "extra": {POD: ["hive-alice-0"], UID: ["u1"]}},
    }
    status.update(over)
    return status


def test_a_review_names_the_agent_and_its_pod() -> None:
    assert owner_from_review(review(), NS) == TokenOwner("alice", "hive-alice-0", "u1")


@pytest.mark.parametrize(
    ("status", "why"),
    [
        (review(authenticated=False, error="token expired"), "token expired"),
        (review(audiences=["https://kubernetes.default.svc"]), "audience"),
        (review("system:serviceaccount:other:hive-alice"), "not an agent's ServiceAccount"),
        (review("system:serviceaccount:swarm:default"), "not an agent's ServiceAccount"),
        (review("system:serviceaccount:swarm:hive-"), "not an agent's ServiceAccount"),
        (review("admin"), "not an agent's ServiceAccount"),
        (review(user={"username": "system:serviceaccount:swarm:hive-alice"}), "not bound to a pod"),
    ],
)
def test_a_review_that_does_not_prove_an_agent_is_refused(status: dict[str, Any], why: str) -> None:
    with pytest.raises(ForbiddenError, match=why):
        owner_from_review(status, NS)


def pod(uid: str = "u1", agent: str = "alice", **meta: Any) -> dict[str, Any]:
    labels = {"app.kubernetes.io/managed-by": "hyperhive", "hyperhive.dev/agent": agent}
    return {"metadata": {"name": "hive-alice-0", "uid": uid, "labels": labels, **meta}}


def test_the_pod_must_be_the_agents_and_current() -> None:
    owner = TokenOwner("alice", "hive-alice-0", "u1")
    check_pod(owner, pod())
    for gone in (None, pod(uid="u0"), pod(deletionTimestamp="2026-01-01T00:00:00Z")):
        with pytest.raises(ForbiddenError, match="is gone"):
            check_pod(owner, gone)
    with pytest.raises(ForbiddenError, match="not agent alice's"):
        check_pod(owner, pod(agent="bob"))
    with pytest.raises(ForbiddenError, match="not agent alice's"):
        check_pod(TokenOwner("alice", "someone-else", "u1"), pod())


def test_the_certificate_is_made_once_private_and_renewed_for_new_names(tmp_path: Path) -> None:
    from cryptography import x509

    d = tmp_path / "broker-tls"
    first = ensure_certs(d, ("hive.example", "10.0.0.5"))
    assert first.ca is not None
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    for key in ("ca.key", "server.key"):
        assert stat.S_IMODE((d / key).stat().st_mode) == 0o600
    cert = x509.load_pem_x509_certificate(first.cert.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(n.value) for n in names} == {"hive.example", "10.0.0.5"}
    ca_before, cert_before = first.ca.read_bytes(), first.cert.read_bytes()
    assert ensure_certs(d, ("hive.example", "10.0.0.5")).cert.read_bytes() == cert_before  # unchanged
    ensure_certs(d, ("hive.example", "10.0.0.6"))
    assert first.cert.read_bytes() != cert_before  # new names: a new server certificate...
    assert first.ca.read_bytes() == ca_before  # ...from the same CA, which pods keep trusting
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=340)
    ensure_certs(d, ("hive.example", "10.0.0.6"), now=later)
    renewed = x509.load_pem_x509_certificate(first.cert.read_bytes())
    assert renewed.not_valid_after_utc > later + dt.timedelta(days=300)


def test_the_client_reads_its_settings_and_names_a_bad_one(tmp_path: Path) -> None:
    env = {"HIVE_BROKER_URL": "tls://hive.example:7443", "HIVE_BROKER_CA_FILE": "/etc/hyperhive/ca.crt"}
    ep = BrokerEndpoint.from_env(env)
    assert ep == BrokerEndpoint("hive.example", 7443, Path("/etc/hyperhive/ca.crt"), Path(DEFAULT_TOKEN_FILE))
    assert BrokerEndpoint.from_env({}) is None
    assert parse_url("tls://[::1]:7443") == ("::1", 7443)
    for bad in ("hive.example:7443", "https://hive:1", "tls://hive", "tls://hive:99999"):
        with pytest.raises(PermanentError, match="is not tls://HOST:PORT"):
            parse_url(bad)
    empty = tmp_path / "token"
    empty.write_text("")
    with pytest.raises(PermanentError, match="is empty"):
        BrokerEndpoint("h", 1, None, empty).token()


def launch() -> str:
    return json.dumps({"name": "alice", "role": "agent", "model": "m", "fingerprint": "f", "revision": "r"})


def test_with_the_tls_broker_a_pod_gets_a_projected_token_and_no_socket(tmp_path: Path) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    s = settings_from_env(
        {
            "HIVE_KUBE_BROKER_URL": "tls://10.0.0.5:7443",
            "HIVE_KUBE_BROKER_CA": str(ca),
            "HIVE_KUBE_HOST_SOCKET": "1",
        }
    )
    sts = ko.stateful_set("alice", "agent", launch(), 1, s, socket_dir="/var/lib/hive/run/agents/alice")
    spec = sts["spec"]["template"]["spec"]
    assert spec["automountServiceAccountToken"] is False  # no API token: only the broker's
    (box,) = spec["containers"]
    env = {e["name"]: e.get("value") for e in box["env"]}
    assert env["HIVE_BROKER_URL"] == "tls://10.0.0.5:7443"
    assert env["HIVE_BROKER_TOKEN_FILE"] == "/var/run/secrets/hyperhive/token"
    assert env["HIVE_BROKER_CA_FILE"] == "/etc/hyperhive/broker-ca.crt"
    volumes = {v["name"]: v for v in spec["volumes"]}
    (source,) = volumes["broker-token"]["projected"]["sources"]
    assert source == {
        "serviceAccountToken": {"audience": "hyperhive-broker", "expirationSeconds": 3600, "path": "token"}
    }
    assert not any("hostPath" in v and v["name"] == "socket" for v in spec["volumes"])  # TLS replaces it
    mounts = {m["mountPath"]: m for m in box["volumeMounts"]}
    assert mounts["/var/run/secrets/hyperhive"]["readOnly"] is True
    assert ko.config_map("alice", launch(), s)["data"]["broker-ca.crt"] == ca.read_text()


def test_bad_broker_settings_for_pods_are_named() -> None:
    with pytest.raises(UserError, match=r"HIVE_KUBE_BROKER_URL='10\.0\.0\.5:7443' is not tls://HOST:PORT"):
        settings_from_env({"HIVE_KUBE_BROKER_URL": "10.0.0.5:7443"})
    with pytest.raises(UserError, match="HIVE_KUBE_BROKER_CA: cannot read /nonexistent"):
        settings_from_env({"HIVE_KUBE_BROKER_URL": "tls://h:1", "HIVE_KUBE_BROKER_CA": "/nonexistent/ca.crt"})


def test_serve_with_the_broker_but_no_cluster_config_is_one_line_at_start(hive: Any, tmp_path: Path) -> None:
    assert hive("init").returncode == 0
    done = hive(
        "serve", "--no-web", "--no-reconcile", "--broker-listen", "127.0.0.1:0",
        env={"KUBECONFIG": str(tmp_path / "absent"), "KUBERNETES_SERVICE_HOST": ""},
        timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert "the TLS broker (reviewing tokens) needs a Kubernetes config" in done.stderr
    assert "set KUBECONFIG" in done.stderr
