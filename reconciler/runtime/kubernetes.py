"""The `kubernetes` runtime: each agent is a StatefulSet of 0 or 1 pods in one namespace.

The objects are ``kubernetes_objects`` (pure); this file does the I/O with
the official asynchronous client, ``kubernetes_asyncio`` (why that one:
docs/kubernetes.md). The verbs:

- ``list`` reads the watch-fed caches (``kubernetes_cache``), never the API:
  a no-op pass costs no request.
- ``create`` / ``update`` server-side apply the ServiceAccount, the ConfigMap
  (``agent.json``), the NetworkPolicy (``kubernetes_egress``) and the
  StatefulSet with field manager ``hyperhive``; a create also the seed
  ConfigMap (``kubernetes_seeds``); the fingerprint annotation on the pod
  template rolls the pod on an update.
  ``update`` keeps the replica count the StatefulSet has (a stopped agent stays
  stopped).
- ``start`` / ``stop`` patch the ``scale`` subresource to 1 / 0.
- ``destroy`` deletes the StatefulSet, ConfigMaps, ServiceAccount and
  NetworkPolicy; the PVC (the agent's ``/state``) stays. ``purge`` deletes
  the PVC too.
- ``logs`` reads the pod's log.

Only objects labelled ``app.kubernetes.io/managed-by=hyperhive`` are ever
written or deleted: an object of ours' name that lacks the label is someone
else's, and a create refuses it (permanent, naming it) rather than take it.

Restarts belong to Kubernetes: the kubelet restarts a crashed harness and the
StatefulSet controller replaces a deleted pod, so the reconciler never sees an
exit to act on; ``list`` tells the restarts in the agent's detail, and each
one it noticed in the pod cache (``kubernetes_restarts``) as a
``SelfRestart``, which the loop reports once as a ``container_crash`` event.

Settings come from the environment, so every command that takes ``--runtime``
(serve, reconcile, status, logs, purge) sees the same ones: ``HIVE_KUBE_*`` and
``KUBECONFIG`` (``settings_from_env``).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import dataclasses
import functools
import json
import logging
import os
import secrets
import shutil
import threading
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from hive_core.kubeapi import open_api
from hive_kit.errors import PermanentError, TemporaryError, UserError
from hive_kit.paths import StateLayout
from reconciler.model import Observed
from reconciler.runtime import kubernetes_drift as kd
from reconciler.runtime import kubernetes_egress as kegress
from reconciler.runtime import kubernetes_objects as ko
from reconciler.runtime import kubernetes_page as kpage
from reconciler.runtime import kubernetes_seeds as ks
from reconciler.runtime.base import MAX_LOG_LINES, LaunchSpec, LineSink, LogScope, log_scope
from reconciler.runtime.kubernetes_cache import ApiStatus, Refused, WatchCache, checked
from reconciler.runtime.kubernetes_namespace import NamespaceWatch
from reconciler.runtime.kubernetes_restarts import RestartLog

log = logging.getLogger(__name__)

SYNC_TIMEOUT = 20.0
REQUEST_TIMEOUT = 30.0
T = TypeVar("T")


def settings_from_env(
    env: Mapping[str, str] | None = None, layout: StateLayout | None = None
) -> ko.KubeSettings:
    """The operator's choices: HIVE_KUBE_NAMESPACE (else hive.json's ``kubernetes_namespace`` in
    ``layout``'s meta repo), _IMAGE, _IMAGE_PULL_POLICY, _API_KEY_SECRET, _STATE_SIZE,
    _STORAGE_CLASS, _COMMAND (shell words), _RUN_AS, _HOST_MOUNTS, _BROKER_URL, _BROKER_CA (both
    default to the daemon's own broker's, recorded in ``layout``'s state dir), _SEED_COMMAND
    (shell words), _EGRESS_CIDRS, _MODEL_BASE_URL."""
    import shlex

    e = os.environ if env is None else env
    base = ko.KubeSettings()
    command = tuple(shlex.split(e["HIVE_KUBE_COMMAND"])) if e.get("HIVE_KUBE_COMMAND") else base.command
    return ko.KubeSettings(
        namespace=_namespace(e.get("HIVE_KUBE_NAMESPACE"), layout) or base.namespace,
        image=e.get("HIVE_KUBE_IMAGE") or base.image,
        image_pull_policy=e.get("HIVE_KUBE_IMAGE_PULL_POLICY") or base.image_pull_policy,
        api_key_secret=e.get("HIVE_KUBE_API_KEY_SECRET") or base.api_key_secret,
        state_size=e.get("HIVE_KUBE_STATE_SIZE") or base.state_size,
        storage_class=e.get("HIVE_KUBE_STORAGE_CLASS") or None,
        command=command,
        run_as=_uid(e.get("HIVE_KUBE_RUN_AS"), base.run_as),
        host_mounts=_host_mounts(e.get("HIVE_KUBE_HOST_MOUNTS", "")),
        host_socket=e.get("HIVE_KUBE_HOST_SOCKET") == "1",
        **_broker(e, layout),
        egress_cidrs=kegress.checked_cidrs(e.get("HIVE_KUBE_EGRESS_CIDRS", "")),
        seed_command=tuple(shlex.split(e["HIVE_KUBE_SEED_COMMAND"]))
        if e.get("HIVE_KUBE_SEED_COMMAND")
        else None,
        model_base_url=ko.checked_model_base_url(e["HIVE_KUBE_MODEL_BASE_URL"])
        if e.get("HIVE_KUBE_MODEL_BASE_URL")
        else None,
    )


def namespace_from_env(env: Mapping[str, str] | None = None, layout: StateLayout | None = None) -> str:
    """HIVE_KUBE_NAMESPACE, else hive.json's ``kubernetes_namespace``, else the default."""
    e = os.environ if env is None else env
    return _namespace(e.get("HIVE_KUBE_NAMESPACE"), layout) or ko.KubeSettings().namespace


def _broker(e: Mapping[str, str], layout: StateLayout | None) -> dict[str, Any]:
    """HIVE_KUBE_BROKER_URL and _CA, each defaulting to what the daemon's own TLS broker recorded
    (``hive_core.broker_pods``), so every process renders the pods the daemon would."""
    from hive_core import broker_pods

    rec = broker_pods.read(layout.root) if layout is not None else None
    url = e.get(broker_pods.ENV_URL) or (rec.url if rec else None)
    ca = e.get(broker_pods.ENV_CA) or (rec.ca_file if rec else None)
    if url and not ca and rec is not None and rec.own_cert:
        raise UserError(
            f"{broker_pods.ENV_CA} is not set: hive serve's TLS broker uses your own --broker-cert, so "
            f"pods need the CA that signed it; set {broker_pods.ENV_CA}=/path/to/ca.pem for hive serve"
        )
    return {
        "broker_url": ko.checked_broker_url(url) if url else None,
        "broker_ca": ko.broker_ca_text(ca) if ca else "",
    }


def _namespace(override: str | None, layout: StateLayout | None) -> str | None:
    """HIVE_KUBE_NAMESPACE (checked here: nothing else validates it), else desired state's."""
    from desired.rules import NAMESPACE_FIX, dns_label_problem

    if override:
        why = dns_label_problem(override)
        if why is not None:
            raise UserError(f"HIVE_KUBE_NAMESPACE: {why}; {NAMESPACE_FIX}")
        return override
    if layout is None or not (layout.meta / "HEAD").exists():
        return None  # no meta repo yet (`hive init` makes it): the default
    from desired.repo import MetaRepo
    from hive_kit.errors import NotFoundError

    try:
        return MetaRepo(layout.meta).load().state.settings.kubernetes_namespace
    except NotFoundError:
        return None  # an empty repo: no hive.json yet


def _host_mounts(text: str) -> tuple[tuple[str, str], ...]:
    """``NODE[:POD],...``: node directories mounted read-only into every agent's pod."""
    out: list[tuple[str, str]] = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        node, _, inside = item.partition(":")
        inside = inside or node
        if not (node.startswith("/") and inside.startswith("/")):
            raise UserError(
                f"HIVE_KUBE_HOST_MOUNTS: {item!r} is not NODE_DIR[:POD_DIR] with absolute paths; "
                "e.g. /usr:/usr,/usr/lib:/lib"
            )
        known = next((n for n, i in out if i == inside), None)
        if known == node:
            continue  # listed twice (a venv whose base is /usr, say): one mount
        if known is not None:
            raise UserError(
                f"HIVE_KUBE_HOST_MOUNTS: {inside} is mounted from both {known} and {node}; keep one of them"
            )
        out.append((node, inside))
    return tuple(out)


def _uid(text: str | None, default: int) -> int:
    if not text:
        return default
    if not text.isdigit():
        raise UserError(f"HIVE_KUBE_RUN_AS={text!r} is not a uid; give a number such as 65534")
    return int(text)


def _status_of(exc: BaseException) -> int | None:
    from kubernetes_asyncio.client.exceptions import ApiException

    if isinstance(exc, ApiException | ApiStatus):
        return int(exc.status)
    return None


class _Client:
    """One ApiClient and its typed APIs, on the loop that made it."""

    def __init__(self, api: Any) -> None:
        from kubernetes_asyncio import client

        self.api = api
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)
        self.net = client.NetworkingV1Api(api)


async def open_client(kubeconfig: str | None) -> _Client:
    """An ApiClient from ``kubeconfig`` (or $KUBECONFIG, ~/.kube/config), else in-cluster config."""
    return _Client(await open_api(kubeconfig, needed_by="the kubernetes runtime"))


class KubernetesRuntime:
    kind = "kubernetes"
    uses_meta_flake = False
    log_scopes: tuple[LogScope, ...] = (LogScope.HARNESS,)
    insecure_reason: str | None = None
    places_seeds = True  # a ConfigMap and an init container (kubernetes_seeds)

    def __init__(
        self, layout: StateLayout, settings: ko.KubeSettings, *, kubeconfig: str | None = None
    ) -> None:
        self.layout = layout
        self.settings = settings
        self.kubeconfig = kubeconfig
        self._client: _Client | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._opening = asyncio.Lock()
        self.statefulsets: WatchCache | None = None
        self.pods: WatchCache | None = None
        self.requests = 0  # API calls made by the verbs (not the caches' watches): the bench counts them
        self.restarts = RestartLog()
        self.namespace_watch = NamespaceWatch(layout, settings.namespace)

    # ---- the client and the caches ---------------------------------------------------------------

    async def _open(self) -> _Client:
        async with self._opening:
            if self._client is None:
                c = await open_client(self.kubeconfig)
                ns = self.settings.namespace
                self.statefulsets = WatchCache(
                    "statefulsets",
                    lambda **kw: c.apps.list_namespaced_stateful_set(ns, **kw),
                    ko.SELECTOR,
                    status_of=_status_of,
                )
                self.pods = WatchCache(
                    "pods",
                    lambda **kw: c.core.list_namespaced_pod(ns, **kw),
                    ko.SELECTOR,
                    status_of=_status_of,
                    on_change=self.restarts.see,
                )
                self._client = c
                self._keeper = asyncio.create_task(self._keep(c), name="kube-client")
                unreachable = kegress.model_api_warning(self.settings)
                if unreachable:
                    log.warning("%s", unreachable)
            return self._client

    async def _keep(self, c: _Client) -> None:
        """Runs as long as the loop: on cancel (daemon stop, the end of ``asyncio.run``) closes all."""
        try:
            await asyncio.Event().wait()
        finally:
            for cache in (self.statefulsets, self.pods):
                if cache is not None:
                    await cache.close()
            await c.api.close()
            self._client = None

    async def aclose(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
            self._keeper = None

    async def _call(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """One API request, its failure translated (``ko.error_for``)."""
        import aiohttp
        from kubernetes_asyncio.client.exceptions import ApiException

        self.requests += 1
        try:
            return await asyncio.wait_for(self._checked(call), REQUEST_TIMEOUT)
        except (ApiException, ApiStatus) as exc:
            raise ko.error_for(exc.status, ko.api_reason(exc.body), what, self.settings.namespace) from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise ko.error_for(None, str(exc) or type(exc).__name__, what, self.settings.namespace) from exc

    @staticmethod
    async def _checked(call: Callable[[], Awaitable[T]]) -> T:
        """A raw response is checked here (the client checks only the decoded ones)."""
        result = await call()
        if hasattr(result, "status") and hasattr(result, "read"):
            await checked(result)
        return result

    async def _get(self, what: str, call: Callable[[], Awaitable[Any]]) -> dict[str, Any] | None:
        """An object as raw JSON, or None if there is none."""
        try:
            resp = await self._call(what, call)
        except PermanentError as exc:
            if _status_of(exc.__cause__ or exc) == 404:
                return None
            raise
        data: dict[str, Any] = json.loads(await resp.read())
        return data

    # ---- observe ---------------------------------------------------------------------------------

    async def list(self) -> dict[str, Observed]:
        """From the caches: no API request once they are synced. Always a suspension point, so a
        caller that polls ``list`` lets the caches' watches run meanwhile."""
        await asyncio.sleep(0)
        await self._open()
        if self.statefulsets is None or self.pods is None:
            raise TemporaryError("the Kubernetes client closed while listing; retrying")
        for cache in (self.statefulsets, self.pods):
            try:
                await cache.synced(SYNC_TIMEOUT)
            except Refused as exc:
                reason = ko.api_reason(getattr(exc.exc, "body", None))
                raise ko.error_for(
                    exc.status, reason, f"{cache.kind} (list, watch)", self.settings.namespace
                ) from exc
        pods = {p["metadata"]["labels"].get(ko.AGENT): p for p in self.pods.items.values()}
        out: dict[str, Observed] = {}
        moved = self.namespace_watch.note()  # hive.json names another namespace: say so on each agent
        for sts in self.statefulsets.items.values():
            agent = (sts["metadata"].get("labels") or {}).get(ko.AGENT)
            if agent:
                seen = ko.observe(agent, sts, pods.get(agent))
                why, changes = kd.drift(sts, self.settings)
                out[agent] = dataclasses.replace(
                    seen,
                    self_restarts=self.restarts.of(agent),
                    rebuild=why,
                    rebuild_changes=changes,
                    warning="; ".join(filter(None, (seen.warning, moved))),
                )
        return dict(sorted(out.items()))

    async def agent_uid(self, name: str) -> int | None:
        return None  # pods run as settings.run_as; the host's uid allocation is not theirs

    # ---- create, update ---------------------------------------------------------------------------

    async def create(self, spec: LaunchSpec, progress: LineSink) -> None:
        await self._apply(spec, progress, replicas=1, seeds=True)

    async def update(self, spec: LaunchSpec, progress: LineSink) -> None:
        c = await self._open()
        name = ko.object_name(spec.name)
        current = await self._get(
            f"statefulset {name}",
            lambda: c.apps.read_namespaced_stateful_set(
                name, self.settings.namespace, _preload_content=False
            ),
        )
        replicas = 1 if current is None else int((current.get("spec") or {}).get("replicas", 1))
        await self._apply(spec, progress, replicas=replicas)

    async def _apply(
        self, spec: LaunchSpec, progress: LineSink, *, replicas: int, seeds: bool = False
    ) -> None:
        c = await self._open()
        s, ns, name = self.settings, self.settings.namespace, ko.object_name(spec.name)
        try:
            agent_json = spec.config_file.read_text()
        except OSError as exc:
            raise PermanentError(
                f"agent {spec.name}: cannot read its launch config {spec.config_file}: {exc}"
            ) from exc
        sockets = str(spec.socket.parent)
        config = kpage.with_digest(ko.config_map(spec.name, agent_json, s), self.layout, spec.name, s)
        objects: builtins.list[tuple[str, ko.Json, Callable[..., Any], Callable[..., Any]]] = [
            ("serviceaccount", ko.service_account(spec.name, s), c.core.read_namespaced_service_account,
             c.core.patch_namespaced_service_account),
            ("configmap", config, c.core.read_namespaced_config_map, c.core.patch_namespaced_config_map),
        ]  # fmt: skip
        if seeds:  # only a create: an update leaves what the last create put there (kubernetes_seeds)
            objects.append(self._seed_object(c, spec, progress))
        # the policy before the pod: it never runs unfenced
        objects.append(
            ("networkpolicy", kegress.network_policy(spec.name, s),
             c.net.read_namespaced_network_policy, c.net.patch_namespaced_network_policy)
        )  # fmt: skip
        sts = ks.with_seed_init(ko.stateful_set(spec.name, spec.role, agent_json, replicas, s, sockets), s)
        sts = kpage.with_page(sts, s)
        sts = kd.recorded(sts, s)  # the settings it was applied with (kubernetes_drift)
        objects.append(
            ("statefulset", sts, c.apps.read_namespaced_stateful_set, c.apps.patch_namespaced_stateful_set)
        )
        for kind, body, read, patch in objects:
            obj = body["metadata"]["name"]
            await self._apply_one(spec.name, f"{kind} {obj}", obj, body, read, patch)
        kinds = ", ".join(kind for kind, *_ in objects)
        progress(f"  {spec.name} | applied {name} ({kinds}) in {ns}")
        log.info("%s: applied %s in namespace %s, replicas %d", spec.name, name, ns, replicas)

    async def _apply_one(
        self,
        agent: str,
        what: str,
        name: str,
        body: ko.Json,
        read: Callable[..., Any],
        patch: Callable[..., Any],
    ) -> None:
        """Server-side apply ``body``, unless an object of that name is someone else's."""
        ns = self.settings.namespace
        found = await self._get(what, functools.partial(read, name, ns, _preload_content=False))
        if found is not None and not ko.is_ours(found):
            raise PermanentError(
                f"agent {agent}: {what} in namespace {ns} exists and is not hyperhive's (no "
                f"{ko.SELECTOR} label); rename or delete it, or rename the agent"
            )
        apply = functools.partial(
            patch, name, ns, body, field_manager=ko.FIELD_MANAGER, force=True,
            _content_type="application/apply-patch+yaml",
        )  # fmt: skip
        await self._call(what, apply)

    def _seed_object(
        self, c: _Client, spec: LaunchSpec, progress: LineSink
    ) -> tuple[str, ko.Json, Callable[..., Any], Callable[..., Any]]:
        """The seed ConfigMap, with a new id: the init container places it once (kubernetes_seeds)."""
        if spec.seeds and ks.seed_command(self.settings) is None:
            why = (
                f"agent {spec.name}: its {len(spec.seeds)} seed file(s) cannot be placed: "
                "HIVE_KUBE_COMMAND has no `serve` to derive the seed command from; set HIVE_KUBE_SEED_COMMAND"
            )
            log.warning("%s", why)
            progress(f"  {why}")
        body = ks.seed_config_map(spec.name, spec.seeds, secrets.token_hex(8), self.settings)
        if spec.seeds:
            progress(f"  {spec.name} | {len(spec.seeds)} seed file(s) go to /state at the pod's first start")
        return ("configmap", body, c.core.read_namespaced_config_map, c.core.patch_namespaced_config_map)

    # ---- start, stop ------------------------------------------------------------------------------

    async def _scale(self, agent: str, replicas: int, progress: LineSink) -> None:
        c = await self._open()
        ns, name = self.settings.namespace, ko.object_name(agent)
        found = await self._get(
            f"statefulset {name}",
            lambda: c.apps.read_namespaced_stateful_set(name, ns, _preload_content=False),
        )
        if found is None or not ko.is_ours(found):
            raise PermanentError(
                f"agent {agent}: no hyperhive statefulset {name} in namespace {ns} to scale; "
                "`hive reconcile` creates it"
            )
        await self._call(
            f"statefulset {name} scale",
            lambda: c.apps.patch_namespaced_stateful_set_scale(name, ns, {"spec": {"replicas": replicas}}),
        )
        progress(f"  {agent} | scaled {name} to {replicas}")

    async def start(self, spec: LaunchSpec, progress: LineSink) -> None:
        await self._scale(spec.name, 1, progress)

    async def stop(self, name: str, progress: LineSink) -> None:
        self.restarts.stopped(name)
        await self._scale(name, 0, progress)

    # ---- destroy, purge ---------------------------------------------------------------------------

    async def destroy(self, name: str, progress: LineSink) -> None:
        """The StatefulSet, ConfigMaps, ServiceAccount and NetworkPolicy; the PVC (its /state) stays."""
        c = await self._open()
        ns, obj = self.settings.namespace, ko.object_name(name)
        apps, core = c.apps, c.core
        for kind, target, read, delete in (
            ("statefulset", obj, apps.read_namespaced_stateful_set, apps.delete_namespaced_stateful_set),
            ("configmap", obj, core.read_namespaced_config_map, core.delete_namespaced_config_map),
            ("configmap", ks.seed_name(name), core.read_namespaced_config_map,
             core.delete_namespaced_config_map),
            ("serviceaccount", obj, core.read_namespaced_service_account,
             core.delete_namespaced_service_account),
            ("networkpolicy", obj, c.net.read_namespaced_network_policy,
             c.net.delete_namespaced_network_policy),
        ):  # fmt: skip
            await self._delete_ours(f"{kind} {target}", target, read, delete)
        shutil.rmtree(self.layout.agent_build(name), ignore_errors=True)
        kpage.forget_token(self.layout, name)
        self.restarts.forget(name)
        progress(f"  {name} | deleted {obj} in {ns}; its volume stays (purge deletes it)")

    async def purge(self, name: str, progress: LineSink) -> None:
        """The agent's PVC: what it kept in /state is gone for good."""
        c = await self._open()
        for claim in ko.claim_names(name):
            await self._delete_ours(
                f"persistentvolumeclaim {claim}",
                claim,
                c.core.read_namespaced_persistent_volume_claim,
                c.core.delete_namespaced_persistent_volume_claim,
            )
        progress(f"  {name} | deleted its volume claim(s) {', '.join(ko.claim_names(name))}")

    async def _delete_ours(
        self, what: str, obj: str, read: Callable[..., Any], delete: Callable[..., Any]
    ) -> None:
        ns = self.settings.namespace
        found = await self._get(what, lambda: read(obj, ns, _preload_content=False))
        if found is None:
            return
        if not ko.is_ours(found):
            log.warning(
                "%s in namespace %s is not hyperhive's (no %s label): left alone", what, ns, ko.SELECTOR
            )
            return
        try:
            await self._call(what, lambda: delete(obj, ns, propagation_policy="Background"))
        except PermanentError as exc:
            if _status_of(exc.__cause__ or exc) != 404:  # gone meanwhile: what we wanted
                raise

    def page_pod(self, name: str) -> kpage.PagePod | None:
        """Where the dashboard reaches ``name``'s page: its pod, through the API server's proxy (with
        the TLS broker on and a token made); None: no pod page."""
        return kpage.page_pod(self.layout, name, self.settings, self.kubeconfig)

    def tidy(self) -> None:
        return None  # Kubernetes reaps pods itself

    # ---- logs ------------------------------------------------------------------------------------

    def logs(self, name: str, lines: int = 200, scope: LogScope = LogScope.HARNESS) -> builtins.list[str]:
        """The pod's log (the harness's output). Blocking, as the interface says: the read runs on
        a loop of its own in a worker thread, with its own connection, whoever calls."""
        log_scope(scope, self.log_scopes, self.kind)
        lines = max(1, min(lines, MAX_LOG_LINES))
        result: list[builtins.list[str] | BaseException] = []

        def run() -> None:
            try:
                result.append(asyncio.run(self._read_log(name, lines)))
            except BaseException as exc:  # handed to the caller's thread
                result.append(exc)

        worker = threading.Thread(target=run, name=f"kube-logs-{name}")
        worker.start()
        worker.join()
        if isinstance(result[0], BaseException):
            raise result[0]
        return result[0]

    async def _read_log(self, name: str, lines: int) -> builtins.list[str]:
        c = await open_client(self.kubeconfig)
        pod = f"{ko.object_name(name)}-0"
        try:
            text = await self._call(
                f"pod {pod} log",
                lambda: c.core.read_namespaced_pod_log(pod, self.settings.namespace, tail_lines=lines),
            )
        except PermanentError as exc:
            if _status_of(exc.__cause__ or exc) in (400, 404):  # no pod (stopped) or not started yet
                return []
            raise
        finally:
            await c.api.close()
        return str(text or "").splitlines()[-lines:]
