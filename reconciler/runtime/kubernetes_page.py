"""The agent page of an agent in a pod: its token on the host, its port in the pod, and where the
dashboard finds it (the API server's pod proxy).

With the TLS broker on, every agent's harness serves its page API on TCP port ``page``
(``hive_kit.pagetoken.PAGE_PORT``) as well as on its unix socket, and requires the agent's page
token on every request. The token is made here, once per agent, and kept in the daemon's state
dir (``StateLayout.page_token_for``, 0600 in a 0700 dir); the pod gets only its SHA-256, in the
agent's ConfigMap, so the agent (who can read everything its harness reads) cannot open its own
page's operator controls. The dashboard reads the token (``PagePod``) and goes through
``/api/v1/namespaces/NS/pods/hive-<agent>-0:7700/proxy/`` with the daemon's own credentials.

Why the ConfigMap and not a Secret: a digest opens nothing, so it needs no secrecy, and the daemon
then needs no rights on Secrets at all (the operator's API key Secret is in the same namespace).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

from hive_kit import pagetoken
from hive_kit.errors import PermanentError
from hive_kit.paths import StateLayout
from reconciler.runtime import kubernetes_objects as ko

DIGEST_FILE = f"{ko.CONFIG_DIR}/{pagetoken.DIGEST_KEY}"


@dataclass(frozen=True)
class PagePod:
    """Where the dashboard reaches one pod agent's page: the pod's proxy, with this token."""

    agent: str
    namespace: str
    token: str
    kubeconfig: str | None

    @property
    def pod(self) -> str:
        return f"{ko.object_name(self.agent)}-0"

    @property
    def path(self) -> str:
        """The proxy path on the API server (append the page's own path). The port by number: a pod
        proxy does not resolve a port's name (1.20 takes ``:page`` as the port and panics on it)."""
        return f"/api/v1/namespaces/{self.namespace}/pods/{self.pod}:{pagetoken.PAGE_PORT}/proxy"

    def __repr__(self) -> str:  # never the token, in a log line or a traceback
        return f"PagePod(agent={self.agent!r}, namespace={self.namespace!r}, pod={self.pod!r})"


def read_token(layout: StateLayout, agent: str) -> str | None:
    try:
        return layout.page_token_for(agent).read_text().strip() or None
    except OSError:
        return None


def ensure_token(layout: StateLayout, agent: str) -> str:
    """The agent's page token, made (and written 0600, whole or not at all) the first time."""
    known = read_token(layout, agent)
    if known is not None:
        return known
    path = layout.page_token_for(agent)
    token = pagetoken.new_token()
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.parent.chmod(0o700)
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise PermanentError(
            f"agent {agent}: cannot keep its page token in {path} ({exc.strerror or exc}); "
            "check the state dir's owner and free space"
        ) from exc
    return token


def forget_token(layout: StateLayout, agent: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        layout.page_token_for(agent).unlink()


def with_page(sts: ko.Json, s: ko.KubeSettings) -> ko.Json:
    """The StatefulSet ``sts`` with the page's env and named port on the harness container."""
    env, ports = pod_parts(s)
    if env:
        container = sts["spec"]["template"]["spec"]["containers"][0]
        container["env"] = [*container.get("env", []), *env]
        container["ports"] = [*container.get("ports", []), *ports]
    return sts


def with_digest(config_map: ko.Json, layout: StateLayout, agent: str, s: ko.KubeSettings) -> ko.Json:
    """The agent's ConfigMap with the page token's digest in it (so at ``DIGEST_FILE`` in the pod)."""
    config_map["data"] = {**config_map["data"], **digest_data(layout, agent, s)}
    return config_map


def pod_parts(s: ko.KubeSettings) -> tuple[list[ko.Json], list[ko.Json]]:
    """(env, ports) for the harness container: the page on TCP, its digest's file. Only with the TLS
    broker (a pod reached from elsewhere); the hostPath-socket stopgap keeps the socket only."""
    if not s.broker_url:
        return [], []
    env: list[ko.Json] = [
        {"name": pagetoken.ENV_PAGE_LISTEN, "value": f"0.0.0.0:{pagetoken.PAGE_PORT}"},
        {"name": pagetoken.ENV_PAGE_TOKEN_DIGEST_FILE, "value": DIGEST_FILE},
    ]
    ports: list[ko.Json] = [
        {"name": pagetoken.PORT_NAME, "containerPort": pagetoken.PAGE_PORT, "protocol": "TCP"}
    ]
    return env, ports


def ingress(s: ko.KubeSettings) -> list[ko.Json]:
    """The NetworkPolicy's ingress: the page port from anywhere (the pod proxy's connections come
    from the API server or the node, whose addresses a policy cannot name portably); nothing else."""
    if not s.broker_url:
        return []
    return [{"ports": [{"protocol": "TCP", "port": pagetoken.PAGE_PORT}]}]


def digest_data(layout: StateLayout, agent: str, s: ko.KubeSettings) -> dict[str, str]:
    """The ConfigMap's entry for the page: the token's digest (made now if the agent has none)."""
    if not s.broker_url:
        return {}
    return {pagetoken.DIGEST_KEY: pagetoken.digest(ensure_token(layout, agent)) + "\n"}


def page_pod(layout: StateLayout, agent: str, s: ko.KubeSettings, kubeconfig: str | None) -> PagePod | None:
    if not s.broker_url:
        return None
    token = read_token(layout, agent)
    return PagePod(agent, s.namespace, token, kubeconfig) if token else None
