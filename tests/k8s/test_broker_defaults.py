"""The pods' broker URL and CA default to the daemon's own TLS broker (``hive_core.broker_pods``).

Pure (files in a temp dir, ``hive`` processes that stop before any cluster is reached). That a
``hive reconcile --dry-run`` after a real ``hive serve --broker-listen`` plans no change, against
the real apiserver: ``test_broker_defaults_api.py``.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from hive_core import broker_pods
from hive_core.tls_broker import BrokerSettings
from hive_kit.errors import UserError
from hive_kit.paths import StateLayout
from reconciler.runtime import kubernetes_objects as ko
from reconciler.runtime.kubernetes import settings_from_env


def settings(listen: str = "10.0.0.5:7443", sans: tuple[str, ...] = (), cert: bool = False) -> BrokerSettings:
    files = (Path("/x/server.crt"), Path("/x/server.key")) if cert else (None, None)
    return BrokerSettings.parse(listen, list(sans), *files, namespace="ns", kubeconfig=None)


def test_the_daemons_own_broker_is_what_every_process_renders_for_pods(tmp_path: Path) -> None:
    where = StateLayout(tmp_path)
    told = broker_pods.publish(where.root, settings("0.0.0.0:7443", ("hive.example", "10.0.0.5")), env={})
    ca = tmp_path / "broker-tls" / "ca.crt"
    assert told == broker_pods.PodBroker("tls://hive.example:7443", str(ca), own_cert=False)
    assert stat.S_IMODE((tmp_path / "broker-tls").stat().st_mode) == 0o700
    # another process (hive reconcile), no HIVE_KUBE_BROKER_* set: the same URL and CA
    s = settings_from_env({}, layout=where)
    assert (s.broker_url, s.broker_ca) == ("tls://hive.example:7443", ca.read_text())
    sts = ko.stateful_set("alice", "agent", json.dumps({"fingerprint": "f"}), 1, s)
    env = {e["name"]: e.get("value") for e in sts["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["HIVE_BROKER_URL"] == "tls://hive.example:7443"
    assert ko.config_map("alice", "{}", s)["data"]["broker-ca.crt"] == ca.read_text()
    # a variable set for this one command still wins
    other = tmp_path / "other-ca.crt"
    other.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    s = settings_from_env({"HIVE_KUBE_BROKER_URL": "tls://h:1", "HIVE_KUBE_BROKER_CA": str(other)}, where)
    assert (s.broker_url, s.broker_ca) == ("tls://h:1", other.read_text())


def test_what_serve_was_told_by_its_environment_is_recorded_for_the_next_process(tmp_path: Path) -> None:
    where = StateLayout(tmp_path)
    env = {"HIVE_KUBE_BROKER_URL": "tls://gateway.example:9443"}
    broker_pods.publish(where.root, settings(), env=env)
    assert settings_from_env({}, layout=where).broker_url == "tls://gateway.example:9443"


def test_without_the_broker_the_record_goes_and_pods_get_none(tmp_path: Path) -> None:
    where = StateLayout(tmp_path)
    broker_pods.publish(where.root, settings(), env={})
    assert settings_from_env({}, layout=where).broker_url == "tls://10.0.0.5:7443"  # the listen host
    broker_pods.publish(where.root, None, env={})  # hive serve without --broker-listen
    s = settings_from_env({}, layout=where)
    assert (s.broker_url, s.broker_ca) == (None, "")


def test_with_the_operators_own_certificate_the_ca_variable_is_required(tmp_path: Path) -> None:
    where = StateLayout(tmp_path)
    told = broker_pods.publish(where.root, settings(cert=True), env={})
    assert told is not None and told.own_cert and told.ca_file is None
    assert not (tmp_path / "broker-tls" / "ca.crt").exists()  # not ours to make
    with pytest.raises(UserError, match=r"^HIVE_KUBE_BROKER_CA is not set: .*--broker-cert.*set HIVE_KUBE_"):
        settings_from_env({}, layout=where)
    ca = tmp_path / "theirs.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    broker_pods.publish(where.root, settings(cert=True), env={"HIVE_KUBE_BROKER_CA": str(ca)})
    assert settings_from_env({}, layout=where).broker_ca == ca.read_text()


@pytest.mark.parametrize(
    ("host", "port", "sans", "url"),
    [
        ("10.0.0.5", 7443, (), "tls://10.0.0.5:7443"),
        ("0.0.0.0", 7443, ("hive.example", "10.0.0.5"), "tls://hive.example:7443"),
        ("::", 7443, ("fd00::5",), "tls://[fd00::5]:7443"),
        ("0.0.0.0", 7443, (), None),  # a wildcard: no address a pod can use
        ("10.0.0.5", 0, (), None),  # the port is picked only when it listens
    ],
)
def test_the_url_pods_are_given(host: str, port: int, sans: tuple[str, ...], url: str | None) -> None:
    assert broker_pods.pod_url(host, port, sans) == url


def test_serve_says_in_one_line_what_pods_would_miss(hive: Any, tmp_path: Path) -> None:
    """Both refused before the daemon starts or a cluster is asked."""
    assert hive("init").returncode == 0
    kube = {"KUBECONFIG": str(tmp_path / "absent"), "HIVE_KUBE_BROKER_URL": "", "HIVE_KUBE_BROKER_CA": ""}
    wildcard = hive(
        "serve", "--no-web", "--runtime", "kubernetes", "--broker-listen", "0.0.0.0:7443", env=kube
    )
    assert wildcard.returncode == 1
    (line,) = wildcard.stderr.strip().splitlines()
    assert "--broker-listen 0.0.0.0:7443 is a wildcard address; add --broker-san NAME" in line
    port0 = hive("serve", "--no-web", "--runtime", "kubernetes", "--broker-listen", "127.0.0.1:0", env=kube)
    assert "127.0.0.1:0 picks its port only when it listens; give a fixed port" in port0.stderr
    (tmp_path / "c.pem").write_text("x")
    own = hive(
        "serve", "--no-web", "--runtime", "kubernetes", "--broker-listen", "127.0.0.1:7443",
        "--broker-cert", str(tmp_path / "c.pem"), "--broker-key", str(tmp_path / "c.pem"), env=kube,
    )  # fmt: skip
    assert own.returncode == 1
    (line,) = own.stderr.strip().splitlines()
    assert line.startswith("error: HIVE_KUBE_BROKER_CA is not set") and "--broker-cert" in line
