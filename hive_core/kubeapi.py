"""One way to reach a Kubernetes API server: a kubeconfig file, else the pod's in-cluster config.

Used by the kubernetes runtime (``reconciler.runtime.kubernetes``) and the TLS
broker's TokenReview (``hive_core.tokenreview``). ``kubernetes_asyncio`` is
imported here, when a cluster is first needed: a host that never uses one
does not install it (the ``kubernetes`` extra).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hive_kit.errors import PermanentError


async def open_api(kubeconfig: str | None, *, needed_by: str) -> Any:
    """An ``ApiClient`` from ``kubeconfig`` (or $KUBECONFIG, ~/.kube/config), else in-cluster config.

    ``needed_by`` names what asked ("the kubernetes runtime"), for the errors a user sees."""
    try:
        from kubernetes_asyncio import client, config
    except ImportError as exc:
        raise PermanentError(
            f"{needed_by} needs the kubernetes_asyncio client: pip install 'hyperhive[kubernetes]'"
        ) from exc
    conf = client.Configuration()
    path = kubeconfig or os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
    try:
        if Path(path).is_file():
            await config.load_kube_config(config_file=path, client_configuration=conf)
        else:
            config.load_incluster_config(client_configuration=conf)  # type: ignore[no-untyped-call]
    except config.ConfigException as exc:
        raise PermanentError(
            f"{needed_by} needs a Kubernetes config: {path} does not exist and this is not a pod "
            f"({exc}); set KUBECONFIG to a kubeconfig file"
        ) from exc
    return client.ApiClient(configuration=conf)
