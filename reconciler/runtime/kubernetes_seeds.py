"""A new agent's seed files in a pod (pure): a ConfigMap of them and an init container that places them.

The local runtime writes seeds into the host's state dir before a create (``reconciler.seeding``);
a pod's /state is a PVC the host never sees. So the driver applies, at each create, a second
ConfigMap ``hive-<agent>-seed`` holding one key, ``seeds.json`` (``hive_kit.seeding.encode_bundle``:
the files and an id new at each create), and the pod template runs ``hive-harness seed`` as an
init container first: same image, same uid, no API key, /state and the ConfigMap mounted. It
writes each file only where nothing is, never following a link (``hive_kit.seeding``), and skips
a bundle it placed before, so a pod's restart does not bring back a seed the agent deleted.

The template does not depend on the seeds: the ConfigMap volume is ``optional`` and the init
container always there, so only a create touches seeds and an update (or a seed edited later)
rolls nothing. An update leaves the seed ConfigMap as it is; destroy deletes it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

from hive_kit.errors import PermanentError
from hive_kit.seeding import BUNDLE_FILE, encode_bundle
from reconciler.runtime import kubernetes_objects as ko

SEED_MOUNT = "/etc/hyperhive-seed"
CONFIG_MAP_LIMIT = 1024 * 1024  # the API server's cap on a ConfigMap's data (etcd's object size)
_HEADROOM = 16 * 1024  # metadata and managedFields share the object with the data


def seed_name(agent: str) -> str:
    return f"{ko.object_name(agent)}-seed"


def seed_config_map(agent: str, seeds: Mapping[str, bytes], seed_id: str, s: ko.KubeSettings) -> ko.Json:
    """The agent's seed ConfigMap. ``desired.seeds`` caps seeds at 256 KiB per agent, so the JSON
    (at most twice that, all quotes escaped) fits; a bigger one is refused here all the same."""
    bundle = encode_bundle(seed_id, seeds)
    size = len(bundle.encode("utf-8"))
    if size > CONFIG_MAP_LIMIT - _HEADROOM:
        raise PermanentError(
            f"agent {agent}: its seed files are {size} bytes as a ConfigMap, over the API server's "
            f"{CONFIG_MAP_LIMIT} bytes; shorten or drop some (agents/{agent}/seed/)"
        )
    meta = {"name": seed_name(agent), "namespace": s.namespace, "labels": ko.labels(agent)}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {BUNDLE_FILE: bundle}}


def seed_command(s: ko.KubeSettings) -> list[str] | None:
    """``HIVE_KUBE_SEED_COMMAND``, else the harness command up to its ``serve`` with ``seed`` in its
    place (``hive-harness serve --role {role}`` → ``hive-harness seed``; ``python -m hive_harness
    serve`` → ``python -m hive_harness seed``). None: no harness command to derive it from."""
    if s.seed_command is not None:
        return list(s.seed_command)
    if "serve" not in s.command:
        return None
    return [*s.command[: s.command.index("serve")], "seed"]


def with_seed_init(sts: ko.Json, s: ko.KubeSettings) -> ko.Json:
    """``sts`` (``ko.stateful_set``'s) with the seed init container and its ConfigMap volume."""
    command = seed_command(s)
    if command is None:
        return sts
    out = copy.deepcopy(sts)
    pod = out["spec"]["template"]["spec"]
    (harness,) = pod["containers"]
    agent = out["metadata"]["labels"][ko.AGENT]
    mounts = [m for m in harness["volumeMounts"] if m["name"] == "state" or m["name"].startswith("host-")]
    pod["initContainers"] = [
        {
            "name": "seed",
            "image": harness["image"],
            "imagePullPolicy": harness["imagePullPolicy"],
            "command": [*command, "--bundle", f"{SEED_MOUNT}/{BUNDLE_FILE}", "--state", ko.STATE_DIR],
            # never the API key: placing files needs no secret
            "env": [e for e in harness["env"] if "valueFrom" not in e],
            "volumeMounts": [*mounts, {"name": "seed", "mountPath": SEED_MOUNT, "readOnly": True}],
            "securityContext": copy.deepcopy(harness["securityContext"]),
        }
    ]
    pod["volumes"].append({"name": "seed", "configMap": {"name": seed_name(agent), "optional": True}})
    return out
