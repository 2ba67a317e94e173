"""Who a projected ServiceAccount token belongs to: the API server's TokenReview, mapped to an agent.

A pod on another machine cannot be told apart by a socket path, so the TLS
broker (``hive_core.tls_broker``) asks the cluster instead. A token passes
only if the API server says all of:

- ``authenticated``, for the audience ``hyperhive-broker`` (a token minted for
  the API server itself, or for anything else, is refused);
- user ``system:serviceaccount:<our namespace>:hive-<agent>``: the account
  the kubernetes runtime made for that agent (``agent_account``);
- bound to a pod (the ``authentication.kubernetes.io/pod-name``/``pod-uid``
  extras a projected token carries), and that pod exists now with that uid,
  is not being deleted, and is labelled as that agent's, managed by hyperhive.
  A token not bound to a pod (a long-lived Secret token, one made with
  ``kubectl create token`` without ``--bound-object-*``) is refused.

Successes are cached for ``CACHE_SECONDS`` (10 s) by the token's SHA-256, so a
harness opening its few connections costs one review; failures are never
cached, so a fixed setup works at once. How long a deleted pod's token stays
usable: the API server caches a successful token check for 10 s, but we read
the pod itself (uncached) on every review, so its cache does not add to ours;
a token is refused at most ``CACHE_SECONDS`` after its pod is deleted (from the
moment the pod is marked for deletion), and only for *new* connections (an
open one ends with the pod, whose end of it is gone).

The API calls use ``kubernetes_asyncio`` (the runtime's client), imported when
the broker starts: a host that never listens on TLS needs none of it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hive_core.kubeapi import open_api
from hive_kit.broker import AUDIENCE
from hive_kit.errors import ForbiddenError, HiveError, PermanentError, UnavailableError

log = logging.getLogger(__name__)

ACCOUNT_PREFIX = "hive-"
"""An agent's ServiceAccount (and every object of it) is ``hive-<agent>`` (kubernetes_objects)."""
POD_NAME = "authentication.kubernetes.io/pod-name"
POD_UID = "authentication.kubernetes.io/pod-uid"
MANAGED_BY = "app.kubernetes.io/managed-by"
AGENT_LABEL = "hyperhive.dev/agent"
CACHE_SECONDS = 10.0
MAX_REVIEWS_IN_FLIGHT = 4


def agent_account(agent: str) -> str:
    return f"{ACCOUNT_PREFIX}{agent}"


@dataclass(frozen=True)
class TokenOwner:
    """What a token proved: the agent, and the pod it was bound to."""

    agent: str
    pod: str
    pod_uid: str


def owner_from_review(status: dict[str, Any], namespace: str) -> TokenOwner:
    """The agent a TokenReview's ``status`` names, or ForbiddenError saying why not (pure)."""
    if not status.get("authenticated"):
        why = status.get("error") or "not authenticated"
        raise ForbiddenError(f"broker token refused: {why}; the pod needs a fresh projected token")
    audiences = status.get("audiences") or []
    if AUDIENCE not in audiences:
        raise ForbiddenError(f"broker token refused: its audience is not {AUDIENCE!r}")
    user = status.get("user") or {}
    username = str(user.get("username", ""))
    prefix = f"system:serviceaccount:{namespace}:{ACCOUNT_PREFIX}"
    agent = username.removeprefix(prefix)
    if not username.startswith(prefix) or not re.fullmatch(r"[a-z0-9][a-z0-9-]*", agent):
        raise ForbiddenError(
            f"broker token refused: {username or 'no user'} is not an agent's ServiceAccount "
            f"({prefix}<agent>)"
        )
    extra = user.get("extra") or {}
    pods, uids = extra.get(POD_NAME) or [], extra.get(POD_UID) or []
    if len(pods) != 1 or len(uids) != 1:
        raise ForbiddenError(
            f"broker token refused: the token of {username} is not bound to a pod; mount a projected "
            f"ServiceAccount token (audience {AUDIENCE})"
        )
    return TokenOwner(agent, str(pods[0]), str(uids[0]))


def check_pod(owner: TokenOwner, pod: dict[str, Any] | None) -> None:
    """The pod the token is bound to must be that agent's, now (pure)."""
    meta = (pod or {}).get("metadata") or {}
    labels = meta.get("labels") or {}
    ours = labels.get(MANAGED_BY) == "hyperhive" and labels.get(AGENT_LABEL) == owner.agent
    if pod is None or meta.get("uid") != owner.pod_uid or meta.get("deletionTimestamp"):
        raise ForbiddenError(
            f"broker token refused: its pod {owner.pod} is gone; the new pod has a new token"
        )
    if not ours or not re.fullmatch(rf"{re.escape(agent_account(owner.agent))}-\d+", owner.pod):
        raise ForbiddenError(f"broker token refused: pod {owner.pod} is not agent {owner.agent}'s")


class TokenReviewer:
    """Reviews tokens against one cluster and namespace; successes cached ``CACHE_SECONDS``."""

    def __init__(
        self,
        namespace: str,
        kubeconfig: str | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        cache_seconds: float = CACHE_SECONDS,
    ) -> None:
        self.namespace = namespace
        self.kubeconfig = kubeconfig
        self.clock = clock
        self.cache_seconds = cache_seconds
        self.reviews = 0  # how many TokenReviews were asked (the cache's test reads it)
        self._cache: dict[bytes, tuple[float, TokenOwner]] = {}
        self._api: Any = None
        self._gate = asyncio.Semaphore(MAX_REVIEWS_IN_FLIGHT)

    def cached(self, token: str) -> bool:
        """Whether ``owner(token)`` would be answered from the cache now, without a review."""
        hit = self._cache.get(hashlib.sha256(token.encode()).digest())
        return hit is not None and hit[0] > self.clock()

    async def owner(self, token: str) -> TokenOwner:
        key = hashlib.sha256(token.encode()).digest()
        now = self.clock()
        hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
        async with self._gate:
            owner = await self._review(token)
        self._cache[key] = (self.clock() + self.cache_seconds, owner)
        return owner

    async def _review(self, token: str) -> TokenOwner:
        from kubernetes_asyncio import client

        api = await self._client()
        self.reviews += 1
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview"}
        body["spec"] = {"token": token, "audiences": [AUDIENCE]}  # type: ignore[assignment]
        review = await self._call(client.AuthenticationV1Api(api).create_token_review, body)
        owner = owner_from_review((review or {}).get("status") or {}, self.namespace)
        pod = await self._call(client.CoreV1Api(api).read_namespaced_pod, owner.pod, self.namespace)
        check_pod(owner, pod)
        return owner

    async def _call(self, method: Any, *args: Any) -> dict[str, Any] | None:
        """One API call's JSON (None for 404); failures as ours: the daemon's rights or the cluster."""
        try:
            async with asyncio.timeout(20):  # not wait_for: a cancel can be swallowed (gh-86296)
                resp = await method(*args, _preload_content=False)
                data = await resp.read()
        except HiveError:
            raise
        except Exception as exc:
            status = getattr(exc, "status", None)
            if status == 404:
                return None
            if status in (401, 403):
                raise PermanentError(
                    f"the daemon may not review broker tokens in namespace {self.namespace} (HTTP {status}); "
                    "bind its account to system:auth-delegator and the Role (`hive kube rbac`)"
                ) from exc
            raise UnavailableError(f"cannot ask the Kubernetes API to review a broker token: {exc}") from exc
        parsed: dict[str, Any] = json.loads(data)
        return parsed

    async def connect(self) -> None:
        """Load the cluster's config now (no request yet): a missing one is an error at start."""
        await self._client()

    async def _client(self) -> Any:
        if self._api is None:
            self._api = await open_api(self.kubeconfig, needed_by="the TLS broker (reviewing tokens)")
        return self._api

    async def close(self) -> None:
        if self._api is not None:
            await self._api.close()
            self._api = None
