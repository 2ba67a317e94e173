"""What the kubernetes runtime asks the API server for: an agent's objects as plain dicts (pure).

Per agent, in the driver's namespace: a ServiceAccount (its identity), a
ConfigMap holding its ``agent.json``, and a StatefulSet of 0 or 1 replicas
whose ``volumeClaimTemplates`` give it a PVC for ``/state``. Every object is
named ``hive-<agent>`` (the PVC ``state-hive-<agent>-0``, the StatefulSet
controller's naming) and labelled ``app.kubernetes.io/managed-by=hyperhive``
plus ``hyperhive.dev/agent=<agent>``: the driver touches nothing without both.

The pod template carries the agent's fingerprint and revision as
annotations, so an update that changes them rolls exactly that pod; nothing
else in the template depends on desired state (the rest is the ConfigMap,
which a running harness does not re-read: the annotation is what restarts it).

Beside these, ``kubernetes_seeds`` renders the seed ConfigMap and init container and
``kubernetes_egress`` the agent's NetworkPolicy (same names, same labels).

Also pure: translating the client's exceptions and a pod's status into our
error tree and ``Observed`` (``error_for``, ``observe``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from hive_core.tokenreview import ACCOUNT_PREFIX
from hive_kit.broker import (
    AUDIENCE,
    DEFAULT_TOKEN_FILE,
    ENV_BROKER_CA_FILE,
    ENV_BROKER_TOKEN_FILE,
    ENV_BROKER_URL,
    parse_url,
)
from hive_kit.errors import HiveError, PermanentError, TemporaryError, UserError
from reconciler.model import ContainerState, Observed

MANAGED_BY = "app.kubernetes.io/managed-by"
AGENT = "hyperhive.dev/agent"
FINGERPRINT = "hyperhive.dev/fingerprint"
REVISION = "hyperhive.dev/revision"
OURS = "hyperhive"
SELECTOR = f"{MANAGED_BY}={OURS}"
FIELD_MANAGER = "hyperhive"
CONFIG_DIR = "/etc/hyperhive"  # the sandbox's path too (hive_kit.launch)
STATE_DIR = "/state"
SOCKET_DIR = "/run/hive"  # hive_kit.launch.SANDBOX_SOCKET's directory
API_KEY = "ANTHROPIC_API_KEY"
MODEL_BASE_URL = "ANTHROPIC_BASE_URL"
BROKER_CA_KEY = "broker-ca.crt"  # in the agent's ConfigMap, so at CONFIG_DIR/broker-ca.crt in the pod
BROKER_TOKEN_SECONDS = 3600  # the kubelet rewrites the token at 80% of this

Json = dict[str, Any]


@dataclass(frozen=True)
class KubeSettings:
    """Where and how agents run: the operator's choices (``hive serve`` reads them from the env)."""

    namespace: str = "hyperhive"
    image: str = "localhost/hyperhive-agent:1"
    image_pull_policy: str = "IfNotPresent"
    api_key_secret: str = "hyperhive-api-key"  # noqa: S105 (a Secret's name; key ANTHROPIC_API_KEY)
    state_size: str = "1Gi"
    storage_class: str | None = None  # None: the cluster's default class
    command: tuple[str, ...] = ("hive-harness", "serve", "--role", "{role}")
    run_as: int = 65534  # nobody: the agent's uid and its volume's group (fsGroup)
    extra_env: dict[str, str] = field(default_factory=dict)
    host_mounts: tuple[tuple[str, str], ...] = ()  # (node path, pod path), read-only: the host's Python
    host_socket: bool = False  # single node only: the agent's socket dir by hostPath (no TLS broker)
    broker_url: str | None = None  # tls://HOST:PORT of the daemon's TLS broker, as pods reach it
    broker_ca: str = ""  # the PEM of the CA that signed the broker's certificate
    seed_command: tuple[str, ...] | None = None  # None: derived from command (kubernetes_seeds)
    egress_cidrs: tuple[str, ...] = ()  # reachable on 443 under the NetworkPolicy (kubernetes_egress)
    model_base_url: str | None = None  # the pods' ANTHROPIC_BASE_URL (an LLM gateway); None: Anthropic's


def object_name(agent: str) -> str:
    return f"{ACCOUNT_PREFIX}{agent}"  # the TLS broker maps the ServiceAccount's name back to the agent


def checked_broker_url(url: str) -> str:
    try:
        parse_url(url, "HIVE_KUBE_BROKER_URL")
    except PermanentError as exc:
        raise UserError(str(exc)) from None
    return url


def checked_model_base_url(url: str) -> str:
    """HIVE_KUBE_MODEL_BASE_URL: where every pod's claude sends its model calls (``ANTHROPIC_BASE_URL``)."""
    fix = "give e.g. https://llm-gateway.example:8443, or unset it for the Anthropic API"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (it checks the port: a ValueError for 'x' or 99999)
    except ValueError:
        parts = None
    if "@" in url:  # said before the URL is echoed: the error line must not repeat a password
        raise UserError(
            "HIVE_KUBE_MODEL_BASE_URL has a user or password in it, which every StatefulSet would show; "
            f"keep credentials in the API key's Secret (HIVE_KUBE_API_KEY_SECRET) and {fix}"
        )
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or url != url.strip():
        raise UserError(f"HIVE_KUBE_MODEL_BASE_URL={url!r} is not an http(s) URL; {fix}")
    return url


def model_endpoint(url: str) -> tuple[str, int]:
    """The host and port a pod dials for ``url`` (a checked one): what its NetworkPolicy must allow."""
    parts = urlsplit(url)
    return str(parts.hostname), parts.port or (80 if parts.scheme == "http" else 443)


def broker_ca_text(path: str) -> str:
    """The CA file HIVE_KUBE_BROKER_CA names (the daemon's STATE/broker-tls/ca.crt by default)."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise UserError(
            f"HIVE_KUBE_BROKER_CA: cannot read {path} ({exc.strerror or exc}); give the broker's CA "
            "certificate (STATE/broker-tls/ca.crt once `hive serve --broker-listen` has run)"
        ) from exc
    if "BEGIN CERTIFICATE" not in text:
        raise UserError(f"HIVE_KUBE_BROKER_CA: {path} is not a PEM certificate")
    return text


def claim_names(agent: str) -> tuple[str, ...]:
    """The PVC the StatefulSet controller makes from the ``state`` template (one replica: ordinal 0)."""
    return (f"state-{object_name(agent)}-0",)


def labels(agent: str) -> dict[str, str]:
    return {MANAGED_BY: OURS, AGENT: agent}


def is_ours(obj: Json | None) -> bool:
    meta = (obj or {}).get("metadata") or {}
    return (meta.get("labels") or {}).get(MANAGED_BY) == OURS


def _meta(agent: str, namespace: str, **extra: Any) -> Json:
    return {"name": object_name(agent), "namespace": namespace, "labels": labels(agent), **extra}


def service_account(agent: str, s: KubeSettings) -> Json:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _meta(agent, s.namespace),
        "automountServiceAccountToken": False,  # the broker's token is a projected one, nothing else
    }


def config_map(agent: str, agent_json: str, s: KubeSettings) -> Json:
    data = {"agent.json": agent_json}
    if s.broker_url and s.broker_ca:
        data[BROKER_CA_KEY] = s.broker_ca
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(agent, s.namespace), "data": data}


def broker_parts(s: KubeSettings) -> tuple[list[Json], list[Json], list[Json]]:
    """With the TLS broker: (env, mounts, volumes) for a pod to reach it as its agent.

    The token is a projected ServiceAccount token for audience ``hyperhive-broker``, bound to the
    pod and rewritten by the kubelet before it expires; no API token is mounted
    (``automountServiceAccountToken: false``), so the pod can show the broker who it is and ask
    the API server nothing. /run/hive is a scratch dir for the page socket the harness serves."""
    if not s.broker_url:
        return [], [], []
    token_dir = str(Path(DEFAULT_TOKEN_FILE).parent)
    env: list[Json] = [
        {"name": ENV_BROKER_URL, "value": s.broker_url},
        {"name": ENV_BROKER_TOKEN_FILE, "value": DEFAULT_TOKEN_FILE},
    ]
    if s.broker_ca:
        env.append({"name": ENV_BROKER_CA_FILE, "value": f"{CONFIG_DIR}/{BROKER_CA_KEY}"})
    mounts: list[Json] = [
        {"name": "broker-token", "mountPath": token_dir, "readOnly": True},
        {"name": "run", "mountPath": SOCKET_DIR},
    ]
    token: Json = {
        "audience": AUDIENCE,
        "expirationSeconds": BROKER_TOKEN_SECONDS,
        "path": Path(DEFAULT_TOKEN_FILE).name,
    }
    volumes: list[Json] = [
        {"name": "broker-token", "projected": {"sources": [{"serviceAccountToken": token}]}},
        {"name": "run", "emptyDir": {}},
    ]
    return env, mounts, volumes


def stateful_set(
    agent: str, role: str, agent_json: str, replicas: int, s: KubeSettings, socket_dir: str = ""
) -> Json:
    """The agent's StatefulSet; ``agent_json`` gives the fingerprint and revision annotations.
    ``socket_dir`` (the host's, with ``s.host_socket``) becomes the pod's /run/hive."""
    launch = json.loads(agent_json)
    notes = {FINGERPRINT: str(launch.get("fingerprint", "")), REVISION: str(launch.get("revision", ""))}
    name = object_name(agent)
    claim: Json = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": s.state_size}}}
    if s.storage_class is not None:
        claim["storageClassName"] = s.storage_class
    env: list[Json] = [
        {"name": API_KEY, "valueFrom": {"secretKeyRef": {"name": s.api_key_secret, "key": API_KEY}}},
        {"name": "HOME", "value": f"{STATE_DIR}/home"},
    ]
    if s.model_base_url:
        env.append({"name": MODEL_BASE_URL, "value": s.model_base_url})
    env += [{"name": k, "value": v} for k, v in sorted(s.extra_env.items())]
    broker_env, broker_mounts, broker_volumes = broker_parts(s)
    env += broker_env
    socket_dir = "" if s.broker_url else socket_dir  # the TLS broker replaces the hostPath socket
    container: Json = {
        "name": "harness",
        "image": s.image,
        "imagePullPolicy": s.image_pull_policy,
        "command": [part.replace("{role}", role) for part in s.command],
        "env": env,
        "volumeMounts": [
            {"name": "state", "mountPath": STATE_DIR},
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
        ]
        + [
            {"name": f"host-{i}", "mountPath": inside, "readOnly": True}
            for i, (_, inside) in enumerate(s.host_mounts)
        ]
        + ([{"name": "socket", "mountPath": SOCKET_DIR}] if s.host_socket and socket_dir else [])
        + broker_mounts,
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "runAsNonRoot": s.run_as != 0,  # HIVE_KUBE_RUN_AS=0 is root, said explicitly
        },
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": _meta(agent, s.namespace, annotations=notes),
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "selector": {"matchLabels": labels(agent)},
            "template": {
                "metadata": {"labels": labels(agent), "annotations": notes},
                "spec": {
                    "serviceAccountName": name,
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "terminationGracePeriodSeconds": 10,
                    "securityContext": {"runAsUser": s.run_as, "runAsGroup": s.run_as, "fsGroup": s.run_as},
                    "containers": [container],
                    "volumes": [{"name": "config", "configMap": {"name": name}}]
                    + [
                        {"name": f"host-{i}", "hostPath": {"path": node, "type": "Directory"}}
                        for i, (node, _) in enumerate(s.host_mounts)
                    ]
                    + (
                        [{"name": "socket", "hostPath": {"path": socket_dir, "type": "Directory"}}]
                        if s.host_socket and socket_dir
                        else []
                    )
                    + broker_volumes,
                },
            },
            "volumeClaimTemplates": [{"metadata": {"name": "state", "labels": labels(agent)}, "spec": claim}],
        },
    }


# ---- reading what the API server says ------------------------------------------------------------

NEVER_PULL = "ErrImageNeverPull"
_IMAGE_PROBLEMS = frozenset({NEVER_PULL, "ErrImagePull", "ImagePullBackOff", "InvalidImageName"})


def observe(agent: str, sts: Json, pod: Json | None) -> Observed:
    """What one agent's StatefulSet (and its pod, if the cache has one) says about it.

    Kubernetes owns restarts: a crashed harness is restarted by the kubelet and a deleted pod
    made again by the StatefulSet controller, so the agent stays RUNNING (or STARTING) and its
    restarts are told in ``detail``; EXITED is only for what no restart will fix (an image that
    cannot be had), which the loop then reports."""
    replicas = (sts.get("spec") or {}).get("replicas", 1)
    if replicas == 0:
        return Observed(agent, ContainerState.STOPPED, detail="scaled to 0")
    if pod is None:
        return Observed(agent, ContainerState.STARTING, detail="no pod yet")
    status = pod.get("status") or {}
    states = status.get("containerStatuses") or []
    restarts = sum(int(c.get("restartCount", 0)) for c in states)
    again = f", {restarts} restart(s)" if restarts else ""
    inits = status.get("initContainerStatuses") or []  # the seed container runs first (kubernetes_seeds)
    for c in [*inits, *states]:
        waiting = (c.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in _IMAGE_PROBLEMS:
            why = image_problem(agent, str(waiting.get("reason")), str(c.get("image", "")))
            return Observed(agent, ContainerState.EXITED, detail=waiting["reason"], warning=why)
    failed = _init_failure(pod, inits)
    if failed:
        return Observed(agent, ContainerState.STARTING, detail=failed)
    phase = status.get("phase", "Pending")
    ready = any(c.get("ready") for c in states)
    if phase == "Running" and ready:
        return Observed(agent, ContainerState.RUNNING, detail=f"pod {_pod_name(pod)} running{again}")
    return Observed(agent, ContainerState.STARTING, detail=f"pod {_pod_name(pod)} {phase.lower()}{again}")


def _init_failure(pod: Json, inits: list[Json]) -> str:
    """A failing init container, said with where to look (the kubelet retries it, as any crash).
    One that finished with 0 is done, whatever failed before it."""
    name = _pod_name(pod)
    for c in inits:
        state = c.get("state") or {}
        ended = state.get("terminated") or ({} if "running" in state else None)
        if ended is None:  # waiting to run again: how did the last run end?
            ended = (c.get("lastState") or {}).get("terminated") or {}
        code = int(ended.get("exitCode", 0))
        if code != 0:
            box = c.get("name")
            tries = int(c.get("restartCount", 0))
            return f"pod {name}: init container {box} exited with code {code}, {tries} restart(s); " + (
                f"`kubectl logs {name} -c {box}`"
            )
    return ""


def _pod_name(pod: Json) -> str:
    return str((pod.get("metadata") or {}).get("name", "?"))


def image_problem(agent: str, reason: str, image: str) -> str:
    if reason == NEVER_PULL:
        return (
            f"agent {agent}: image {image} is not on the node and imagePullPolicy is Never; import it "
            "there (`ctr -n k8s.io images import`) or set HIVE_KUBE_IMAGE_PULL_POLICY=IfNotPresent"
        )
    return f"agent {agent}: cannot pull image {image} ({reason}); check HIVE_KUBE_IMAGE and the registry"


def error_for(status: int | None, reason: str, what: str, namespace: str) -> HiveError:
    """One API failure as ours: temporary (retry under backoff) or permanent (with the fix).

    ``status`` None is a transport failure (refused, reset, timed out): temporary."""
    where = f"{what} in namespace {namespace}"
    detail = f": {reason}" if reason else ""
    if status is None or status in (409, 429) or status >= 500:
        code = "no answer" if status is None else f"HTTP {status}"
        return TemporaryError(f"Kubernetes API {code} for {where}{detail}; retrying")
    if status == 401:
        return PermanentError(
            f"the Kubernetes API refused our credentials for {where}; check KUBECONFIG (or the "
            "pod's ServiceAccount token)"
        )
    if status == 403:
        return PermanentError(
            f"the daemon may not do that to {where}{detail}; grant its account the namespace's "
            "rights (docs/kubernetes.md, RBAC)"
        )
    if status == 404:
        return PermanentError(f"{where} not found{detail}; does namespace {namespace} exist?")
    if status == 422:
        return PermanentError(f"the API server refused {where} as invalid{detail}; fix the setting it names")
    return PermanentError(f"Kubernetes API HTTP {status} for {where}{detail}")


def api_reason(body: str | bytes | None) -> str:
    """The ``message`` of a Kubernetes Status body, else the body's first 300 characters."""
    if not body:
        return ""
    text = body.decode(errors="replace") if isinstance(body, bytes) else body
    try:
        message = json.loads(text).get("message")
    except (ValueError, AttributeError):
        message = None
    return str(message if message else text[:300])
