"""The kubernetes runtime's pure half: the objects it applies, how it reads a pod, its error mapping."""

from __future__ import annotations

import json

import pytest

from hive_kit.errors import PermanentError, TemporaryError, UserError
from reconciler.model import ContainerState
from reconciler.runtime import kubernetes_objects as ko
from reconciler.runtime.kubernetes import settings_from_env

S = ko.KubeSettings(namespace="swarm", api_key_secret="anthropic")


def launch(fingerprint: str = "fp1", revision: str = "rev1") -> str:
    return json.dumps(
        {"name": "alice", "role": "agent", "model": "m", "fingerprint": fingerprint, "revision": revision}
    )


def test_statefulset_carries_identity_state_config_and_key() -> None:
    sts = ko.stateful_set("alice", "agent", launch(), 1, S)
    pod = sts["spec"]["template"]
    assert sts["metadata"]["name"] == "hive-alice" and sts["metadata"]["namespace"] == "swarm"
    assert pod["metadata"]["annotations"] == {ko.FINGERPRINT: "fp1", ko.REVISION: "rev1"}
    assert pod["metadata"]["labels"] == sts["spec"]["selector"]["matchLabels"] == ko.labels("alice")
    spec = pod["spec"]
    assert spec["serviceAccountName"] == "hive-alice"
    assert spec["automountServiceAccountToken"] is False
    (box,) = spec["containers"]
    key = next(e for e in box["env"] if e["name"] == "ANTHROPIC_API_KEY")
    assert key["valueFrom"]["secretKeyRef"] == {"name": "anthropic", "key": "ANTHROPIC_API_KEY"}
    assert box["command"] == ["hive-harness", "serve", "--role", "agent"]
    assert {m["mountPath"] for m in box["volumeMounts"]} == {"/state", "/etc/hyperhive"}
    assert box["securityContext"]["allowPrivilegeEscalation"] is False
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "state"
    assert ko.claim_names("alice") == ("state-hive-alice-0",)


def test_only_the_fingerprint_and_revision_differ_between_two_revisions() -> None:
    old = ko.stateful_set("alice", "agent", launch("fp1", "rev1"), 1, S)
    new = ko.stateful_set("alice", "agent", launch("fp2", "rev2"), 1, S)
    assert old["spec"]["template"]["spec"] == new["spec"]["template"]["spec"]
    assert old["spec"]["template"]["metadata"] != new["spec"]["template"]["metadata"]


def test_ownership_is_the_label_and_nothing_else() -> None:
    assert ko.is_ours(ko.config_map("a", "{}", S))
    assert not ko.is_ours({"metadata": {"name": "hive-a", "labels": {"app": "x"}}})
    assert not ko.is_ours({"metadata": {"name": "hive-a"}})
    assert not ko.is_ours(None)


def pod(
    phase: str = "Running", ready: bool = True, restarts: int = 0, waiting: str | None = None
) -> dict[str, object]:
    state = {"waiting": {"reason": waiting}} if waiting else {"running": {}}
    status = {"ready": ready, "restartCount": restarts, "image": "img:1", "state": state}
    return {"metadata": {"name": "hive-alice-0"}, "status": {"phase": phase, "containerStatuses": [status]}}


def sts(replicas: int) -> dict[str, object]:
    return {"spec": {"replicas": replicas}}


def test_observe_reads_replicas_and_the_pod() -> None:
    assert ko.observe("alice", sts(0), pod()).state is ContainerState.STOPPED
    assert ko.observe("alice", sts(1), None).state is ContainerState.STARTING
    assert ko.observe("alice", sts(1), pod("Pending", ready=False)).state is ContainerState.STARTING
    running = ko.observe("alice", sts(1), pod(restarts=2))
    assert running.state is ContainerState.RUNNING
    assert "2 restart(s)" in running.detail  # Kubernetes restarted it; we only tell


def test_an_image_the_node_may_not_pull_is_an_exit_with_the_fix() -> None:
    seen = ko.observe("alice", sts(1), pod("Pending", ready=False, waiting="ErrImageNeverPull"))
    assert seen.state is ContainerState.EXITED
    assert "img:1" in seen.warning and "ctr -n k8s.io images import" in seen.warning


@pytest.mark.parametrize("status", [None, 409, 429, 500, 503])
def test_retryable_api_failures_are_temporary(status: int | None) -> None:
    err = ko.error_for(status, "busy", "statefulset hive-a", "swarm")
    assert isinstance(err, TemporaryError)
    assert "statefulset hive-a in namespace swarm" in str(err)


@pytest.mark.parametrize(("status", "fix"), [(403, "RBAC"), (422, "fix the setting"), (401, "KUBECONFIG")])
def test_refusals_are_permanent_and_name_the_fix(status: int, fix: str) -> None:
    err = ko.error_for(status, "nope", "configmap hive-a", "swarm")
    assert isinstance(err, PermanentError)
    assert "configmap hive-a in namespace swarm" in str(err) and fix in str(err)


def test_api_reason_takes_the_status_message() -> None:
    assert ko.api_reason(b'{"kind":"Status","message":"field is immutable"}') == "field is immutable"
    assert ko.api_reason("not json") == "not json"
    assert ko.api_reason(None) == ""


def test_settings_come_from_the_environment() -> None:
    s = settings_from_env(
        {"HIVE_KUBE_NAMESPACE": "ns1", "HIVE_KUBE_COMMAND": "python3 -m hive_harness serve"}
    )
    assert s.namespace == "ns1" and s.command == ("python3", "-m", "hive_harness", "serve")
    assert settings_from_env({}).namespace == "hyperhive"


def test_a_bad_uid_setting_is_a_user_error_naming_it() -> None:
    with pytest.raises(UserError, match="HIVE_KUBE_RUN_AS='me' is not a uid"):
        settings_from_env({"HIVE_KUBE_RUN_AS": "me"})


def test_host_mounts_are_read_only_hostpaths_and_bad_ones_are_named() -> None:
    s = settings_from_env({"HIVE_KUBE_HOST_MOUNTS": "/usr, /usr/lib:/lib"})
    assert s.host_mounts == (("/usr", "/usr"), ("/usr/lib", "/lib"))
    spec = ko.stateful_set("alice", "agent", launch(), 1, s)["spec"]["template"]["spec"]
    mounts = spec["containers"][0]["volumeMounts"]
    assert {"name": "host-1", "mountPath": "/lib", "readOnly": True} in mounts
    assert {"name": "host-1", "hostPath": {"path": "/usr/lib", "type": "Directory"}} in spec["volumes"]
    with pytest.raises(UserError, match="HIVE_KUBE_HOST_MOUNTS: 'usr' is not NODE_DIR"):
        settings_from_env({"HIVE_KUBE_HOST_MOUNTS": "usr"})


def test_a_mount_listed_twice_is_one_mount_and_two_sources_for_one_path_are_refused() -> None:
    """A venv built on the system Python has ``sys.base_prefix`` = /usr: the same mount twice, which
    the API server refuses with a 500 (duplicate volumeMounts key) if both are sent."""
    s = settings_from_env({"HIVE_KUBE_HOST_MOUNTS": "/usr,/usr/lib:/lib,/usr"})
    assert s.host_mounts == (("/usr", "/usr"), ("/usr/lib", "/lib"))
    with pytest.raises(UserError, match="/lib is mounted from both /usr/lib and /opt/lib; keep one"):
        settings_from_env({"HIVE_KUBE_HOST_MOUNTS": "/usr/lib:/lib,/opt/lib:/lib"})


def test_a_model_base_url_reaches_every_pods_claude_and_nothing_without_it() -> None:
    """Operators behind an LLM gateway or proxy: HIVE_KUBE_MODEL_BASE_URL is claude's ANTHROPIC_BASE_URL."""
    s = settings_from_env({"HIVE_KUBE_MODEL_BASE_URL": "http://10.88.0.1:8080"})
    (box,) = ko.stateful_set("alice", "agent", launch(), 1, s)["spec"]["template"]["spec"]["containers"]
    assert {"name": "ANTHROPIC_BASE_URL", "value": "http://10.88.0.1:8080"} in box["env"]
    assert ko.model_endpoint("http://10.88.0.1:8080") == ("10.88.0.1", 8080)
    assert ko.model_endpoint("https://llm.example/anthropic") == ("llm.example", 443)
    (plain,) = ko.stateful_set("alice", "agent", launch(), 1, S)["spec"]["template"]["spec"]["containers"]
    assert not any(e["name"] == "ANTHROPIC_BASE_URL" for e in plain["env"])  # the Anthropic API


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("llm.example:8443", "is not an http(s) URL"),
        ("ftp://llm.example", "is not an http(s) URL"),
        ("https://", "is not an http(s) URL"),
        ("https://llm.example:99999", "is not an http(s) URL"),
        (" https://llm.example", "is not an http(s) URL"),
        ("https://me:sk-secret@llm.example", "user or password"),
        ("https://me:sk-secret@llm.example:99999", "user or password"),
    ],
)
def test_a_bad_model_base_url_is_named_with_the_fix(url: str, why: str) -> None:
    with pytest.raises(UserError, match="HIVE_KUBE_MODEL_BASE_URL") as caught:
        settings_from_env({"HIVE_KUBE_MODEL_BASE_URL": url})
    assert why in str(caught.value) and "https://llm-gateway.example:8443" in str(caught.value)
    assert "sk-secret" not in str(caught.value)  # the error line never repeats a credential


def test_a_bad_model_base_url_is_one_line_from_the_cli(hive) -> None:  # type: ignore[no-untyped-def]
    assert hive("init").returncode == 0
    env = {"KUBECONFIG": "/nonexistent", "HIVE_KUBE_MODEL_BASE_URL": "gateway:8080"}
    done = hive("reconcile", "--dry-run", "--runtime", "kubernetes", env=env)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) <= 2 and "HIVE_KUBE_MODEL_BASE_URL='gateway:8080' is not an http(s) URL" in lines[0], (
        done
    )
