"""Requests made with the cluster's admin kubeconfig, outside the driver (what an operator's
kubectl does). Shared by the k8s tests so each reads an object the same way."""

from __future__ import annotations

import json
from typing import Any

from reconciler.runtime.kubernetes import open_client


async def call(kubeconfig: str, method: str, *args: Any, **kw: Any) -> Any:
    """One API call; its result is fully read before the client closes."""
    c = await open_client(kubeconfig)
    try:
        from kubernetes_asyncio import client

        api = next(a for a in (c.apps, c.core, client.NetworkingV1Api(c.api)) if hasattr(a, method))
        return await getattr(api, method)(*args, **kw)
    finally:
        await c.api.close()


async def read(kubeconfig: str, method: str, name: str, namespace: str) -> dict[str, Any] | None:
    """An object as the server has it now (its JSON), or None if there is none. The body is read
    while the client is still open: reading it after `close()` races the connection's teardown."""
    c = await open_client(kubeconfig)
    try:
        from kubernetes_asyncio import client

        api = next(a for a in (c.apps, c.core, client.NetworkingV1Api(c.api)) if hasattr(a, method))
        resp = await getattr(api, method)(name, namespace, _preload_content=False)
        if resp.status == 404:
            resp.release()
            return None
        data: dict[str, Any] = json.loads(await resp.read())
        return data
    finally:
        await c.api.close()
