"""The dashboard shows a pod agent's page through the API server's pod proxy (node tier).

A ``k8s_node`` test (root; ``HIVE_K8S_NODE_TESTS=1``): a real `hive serve --runtime kubernetes
--broker-listen` with its dashboard, the real harness in busybox pods (the host's Python mounted
read-only: ``tests/k8s/pods.py``'s ``served``, with ``web=True``), each serving its page API on
the pod's port ``page`` with its page token required. Logged in as the web tests are (a one-time
link from `hive dashboard url`, the session cookie, Origin and CSRF on writes), the dashboard's
``/agents/<name>/`` routes answer from the pod, through
``/api/v1/namespaces/NS/pods/hive-<agent>-0:7700/proxy/``. What stands in: the busybox image for
the agent image; no turn is asked for.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest

from hive_kit import pagetoken
from hive_kit.paths import StateLayout
from tests.k8s import admin
from tests.k8s.pods import namespace_with_key, served, wait_ready
from tests.web.conftest import DASHBOARD_URL, cli_login_link, http, login_with

pytestmark = [pytest.mark.k8s_node, pytest.mark.slow]
AGENTS = ("alpha", "beta")


async def kube_get(kubeconfig: str, path: str, headers: dict[str, str]) -> tuple[int, str]:
    """GET ``path`` on the API server as the cluster's admin (what `kubectl get --raw` does)."""
    from hive_core.kubeapi import open_api

    api = await open_api(kubeconfig, needed_by="the test")
    try:
        auth = (await api.configuration.auth_settings()).get("BearerToken")
        head = {**headers, **({"Authorization": auth["value"]} if auth else {})}
        async with api.rest_client.pool_manager.get(api.configuration.host + path, headers=head) as reply:
            return reply.status, await reply.text()
    finally:
        await api.close()


async def page_state(url: str, login: Any, name: str) -> Any:
    """``/agents/NAME/api/state``, once the harness's hello is on record (a 503 says it is not yet:
    `hive status`'s Ready is the health gate's, which may be a pass older than a pod restart)."""
    deadline = time.monotonic() + 90
    while True:
        state = await asyncio.to_thread(http, "GET", f"{url}/agents/{name}/api/state", None, login.reads())
        if state.status != 503 or time.monotonic() > deadline:
            return state
        await asyncio.sleep(2)


def agent_page_screenshot(url: str, link: str) -> Path:
    """The dashboard's page of pod agent alpha in Chromium, as docs/screenshots/agent-page-pod.png."""
    from playwright.sync_api import sync_playwright

    from tests.web.conftest import CHROMIUM_ARGS, log_in, screenshot

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, timeout=60_000)
        try:
            page = browser.new_context(
                viewport={"width": 1400, "height": 900}, color_scheme="dark"
            ).new_page()
            page.set_default_timeout(15_000)
            log_in(page, link, "/agents/alpha/")
            page.locator("#model-badge", has_text="claude-opus-4-1").wait_for()
            return screenshot(page, "agent-page-pod")
        finally:
            browser.close()


async def test_the_dashboard_reaches_a_pod_agents_page_through_the_pod_proxy(
    hive: Any, state_dir: Path, k8s_node: dict[str, str], k8s_namespace: str
) -> None:
    kubeconfig = k8s_node["KUBECONFIG"]
    await namespace_with_key(k8s_node, k8s_namespace)
    assert hive("init").returncode == 0
    for name in AGENTS:
        assert hive("agent", "add", name, "--model", "claude-sonnet-4-5").returncode == 0
    with served(state_dir, k8s_node, k8s_namespace, web=True) as daemon:
        await wait_ready(hive, daemon, {*AGENTS, "manager"})
        found = DASHBOARD_URL.search(daemon.text())
        assert found is not None, daemon.text()[-2000:]
        url = found.group(1)
        login = await asyncio.to_thread(login_with, cli_login_link(StateLayout(state_dir)))
        await check_page(url, login, kubeconfig, k8s_namespace, StateLayout(state_dir), daemon.log)
        if os.environ.get("HIVE_SCREENSHOTS") == "1":  # docs/screenshots/agent-page-pod.png, on demand
            link = cli_login_link(StateLayout(state_dir))
            await asyncio.to_thread(agent_page_screenshot, url, link)


async def check_live_events(url: str, login: Any, seq: int) -> None:
    """The page's live stream from the pod, through the dashboard: a model change made after the
    stream opened arrives as its SSE frame (the pod proxy does not flush a streamed response, so
    the dashboard reads the pod's history; the browser sees the same frames as locally)."""
    import aiohttp

    stream_url = f"{url}/agents/alpha/events/stream"
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        headers = {**login.reads(), "Last-Event-ID": str(seq)}
        async with session.get(stream_url, headers=headers) as stream:
            assert stream.status == 200 and stream.content_type == "text/event-stream"
            model = f"{url}/agents/alpha/api/model"
            haiku = {"model": "claude-haiku-4-5"}
            changed = await asyncio.to_thread(http, "POST", model, haiku, login.writes(url))
            assert changed.status == 200, changed.body
            seen: list[str] = []
            async with asyncio.timeout(30):
                async for raw in stream.content:
                    line = raw.decode().rstrip("\r\n")
                    seen.append(line)
                    if line.startswith("data: ") and '"claude-haiku-4-5"' in line:
                        break
            frame = seen[-3:]
            assert frame[0].startswith("id: ") and int(frame[0][4:]) > seq, seen
            assert frame[1] == "event: model_changed", seen
    back = await asyncio.to_thread(
        http, "POST", f"{url}/agents/alpha/api/model", {"model": "claude-opus-4-1"}, login.writes(url)
    )
    assert back.status == 200, back.body


async def check_page(url: str, login: Any, kubeconfig: str, ns: str, layout: StateLayout, log: Path) -> None:
    # the dashboard's agent page API answers from the pod, as locally
    state = await page_state(url, login, "alpha")
    assert state.status == 200, (
        state.body,
        [ln for ln in log.read_text().splitlines() if "alpha" in ln][-30:],
    )
    assert state.body["name"] == "alpha" and state.body["model"] == "claude-sonnet-4-5"
    changed = await asyncio.to_thread(
        http, "POST", f"{url}/agents/alpha/api/model", {"model": "claude-opus-4-1"}, login.writes(url)
    )
    assert changed.status == 200 and changed.body.get("ok"), changed.body
    state = await asyncio.to_thread(http, "GET", f"{url}/agents/alpha/api/state", None, login.reads())
    assert state.body["model"] == "claude-opus-4-1"
    await check_live_events(url, login, state.body["seq"])
    beta = await page_state(url, login, "beta")
    assert beta.status == 200 and beta.body["model"] == "claude-sonnet-4-5"  # beta's own pod
    # the dashboard's own checks are unchanged: no session, no page; a write without CSRF, refused
    assert (await asyncio.to_thread(http, "GET", f"{url}/agents/alpha/api/state")).status in (401, 303)
    bare = await asyncio.to_thread(
        http, "POST", f"{url}/agents/alpha/api/model", {"model": "x"}, login.reads()
    )
    assert bare.status == 403
    # hostile callers, straight at the pod's page port (any process that routes to the pod) ...
    pod = await admin.read(kubeconfig, "read_namespaced_pod", "hive-alpha-0", ns)
    assert pod is not None
    direct = f"http://{pod['status']['podIP']}:{pagetoken.PAGE_PORT}/api/state"
    tokens = {n: (layout.page_token_for(n).read_text().strip()) for n in AGENTS}
    for headers, want in (
        ({}, 401),
        ({pagetoken.HEADER: tokens["beta"]}, 403),  # another agent's token
        ({pagetoken.HEADER: pagetoken.digest(tokens["alpha"])}, 403),  # the digest the pod holds
        ({pagetoken.HEADER: tokens["alpha"]}, 200),
    ):
        got = await asyncio.to_thread(http, "GET", direct, None, headers)
        assert got.status == want, (headers.keys(), got.status, got.body)
    # ... and through the API server's proxy with the cluster admin's credentials but no page token
    proxy = f"/api/v1/namespaces/{ns}/pods/hive-alpha-0:7700/proxy/api/state"
    status, body = await kube_get(kubeconfig, proxy, {})
    assert status == 401 and "alpha" not in body
    status, _ = await kube_get(kubeconfig, proxy, {pagetoken.HEADER: tokens["beta"]})
    assert status == 403
    # the token is nowhere a person or an agent reads: the page's HTML, the logs, the events
    html = await asyncio.to_thread(http, "GET", f"{url}/agents/alpha/", None, login.reads())
    pod_logs = [
        str(await admin.call(kubeconfig, "read_namespaced_pod_log", f"hive-{n}-0", ns)) for n in AGENTS
    ]
    events = str((await admin.call(kubeconfig, "list_namespaced_event", ns)).to_dict())
    for token in tokens.values():
        for where, text in (("html", str(html.body)), ("serve.log", log.read_text(errors="replace")),
                            ("pod logs", "".join(pod_logs)), ("events", events)):  # fmt: skip
            assert token not in text, f"a page token in the {where}"
