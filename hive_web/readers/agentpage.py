"""Where an agent's page API lives: the unix socket its harness serves, or its pod, through the
API server's pod proxy.

On this host (the local and nixos runtimes, and a pod with the hostPath socket) the harness serves
its page API on a unix socket in the agent's socket directory (``StateLayout.page_socket_for``;
``/run/hive/page/page.sock`` in the sandbox), never on a TCP port: no other process on the host
network, and no agent, can reach it, and there are no ports to hand out or to collide.

In a pod reached over the TLS broker (``reconciler.runtime.kubernetes_page``) the socket is
inside the pod, so the harness also serves the page on the pod's port ``page`` and requires the
agent's page token there. The dashboard goes through the API server,
``/api/v1/namespaces/NS/pods/hive-<agent>-0:7700/proxy/<path>``, with the daemon's own cluster
credentials (the same kubeconfig, or in-cluster config, as the runtime: ``hive_core.kubeapi``)
and the token in ``X-Hive-Page-Token``.

The dashboard is the only client either way: the route group (``hive_web.routes.agentpage``) and
the stream relay (``hive_web.streams.agentpage``) reach it through ``upstream``, behind the
dashboard's own session, Origin and CSRF checks; only where the bytes go differs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from hive_core.kubeapi import open_api
from hive_kit import pagetoken
from hive_kit.errors import UnavailableError, UserError
from hive_kit.names import name_problem
from hive_web.keys import DEPS, PAGES
from reconciler.runtime.kubernetes_page import PagePod

PAGE_BASE = "http://agent-page"
"""The URL base sent over the socket (the harness ignores the host; there is no port to name)."""


@dataclass(frozen=True)
class Upstream:
    """One agent's page API: a client, the URL its paths go under, the headers every request needs,
    and how to name it in an error ("socket /x", "pod hive-a-0 in namespace ns")."""

    name: str
    client: aiohttp.ClientSession
    base: str
    where: str
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    via_api_server: bool = False

    def url(self, path: str) -> str:
        return f"{self.base}/{path}"

    def with_headers(self, extra: Mapping[str, str]) -> dict[str, str]:
        return {**extra, **self.headers}


class PageClients:
    """One HTTP client per page socket, and one cluster client per kubeconfig, made on first use
    and closed with the app.

    Each socket request opens a fresh connection (``force_close``): a harness that restarted
    re-created its socket, and a pooled connection to the old one would fail the next request.
    """

    def __init__(self) -> None:
        self._clients: dict[Path, aiohttp.ClientSession] = {}
        self._kube: dict[str | None, Any] = {}

    def get(self, path: Path) -> aiohttp.ClientSession:
        client = self._clients.get(path)
        if client is None or client.closed:
            client = aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(path), force_close=True))
            self._clients[path] = client
        return client

    async def pod(self, name: str, pod: PagePod) -> Upstream:
        """The pod's page through the API server: its host and TLS as the runtime's config resolved
        them (CA, client certificate), its bearer token if it has one, and the page token."""
        api = self._kube.get(pod.kubeconfig)
        if api is None:
            api = await open_api(pod.kubeconfig, needed_by=f"the agent page of pod {pod.pod}")
            self._kube[pod.kubeconfig] = api
        conf = api.configuration
        headers = {pagetoken.HEADER: pod.token}
        bearer = (await conf.auth_settings()).get("BearerToken")
        if bearer and bearer.get("value"):
            headers["Authorization"] = str(bearer["value"])
        where = f"pod {pod.pod} in namespace {pod.namespace}"
        base = f"{str(conf.host).rstrip('/')}{pod.path}"
        return Upstream(name, api.rest_client.pool_manager, base, where, headers, via_api_server=True)

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.close()
        apis, self._kube = list(self._kube.values()), {}
        for api in apis:
            await api.close()


async def upstream(request: web.Request) -> Upstream:
    """The agent's page API (its socket or its pod), or a 4xx/503 that says why there is none."""
    name = request.match_info["name"]
    why = name_problem(name)
    if why is not None:
        raise UserError(f"agent {name!r}: {why}")
    lookup = request.app[DEPS].agent_page
    target = lookup(name) if lookup is not None else None
    if target is None:
        raise UnavailableError(
            f"agent {name} has no page right now: it is not running or has not said hello yet"
        )
    pages = request.app[PAGES]
    if isinstance(target, PagePod):
        return await pages.pod(name, target)
    return Upstream(name, pages.get(target), PAGE_BASE, f"socket {target}")


def unreachable(up: Upstream, exc: Exception | str) -> web.HTTPBadGateway:
    """The 502 for a harness page that does not answer."""
    return web.HTTPBadGateway(
        text=f"the page of agent {up.name} ({up.where}) does not answer ({exc}); is it running?"
    )


def api_server_failure(
    up: Upstream, status: int, content_type: str, body: bytes
) -> web.HTTPBadGateway | None:
    """Through the pod proxy, an answer that is the API server's own (a Kubernetes ``Status``: no
    such pod, nothing listening, not allowed) rather than the harness's: the page does not answer.
    The harness never answers a ``Status``; if a hostile one did, it would only get its own 502."""
    if not up.via_api_server or status < 400 or content_type != "application/json":
        return None
    import json

    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("kind") != "Status":
        return None
    return unreachable(up, f"the API server answered {status}: {data.get('message') or data.get('reason')}")
