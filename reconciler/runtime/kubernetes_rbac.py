"""The least the daemon's own account needs in its namespace: one Role, bound to it (pure).

Exactly what ``reconciler.runtime.kubernetes`` asks the API server for and
nothing more: read and watch its StatefulSets and Pods (the caches), apply and
delete ServiceAccounts, ConfigMaps and StatefulSets, patch the ``scale``
subresource, read ``pods/log``, read and delete PersistentVolumeClaims
(purge), apply and delete each agent's NetworkPolicy (``kubernetes_egress``),
and go through ``pods/proxy`` to an agent's page (GET is ``get``, POST is
``create``; ``kubernetes_page``).
No Secrets: the API key reaches the pod through its ``secretKeyRef``, which
the kubelet resolves, so the daemon never reads it. Namespace-scoped on
purpose: the daemon cannot touch anything outside its namespace.
``tests/k8s/test_rbac.py`` runs the driver with a token for an account bound
to exactly this Role.

One thing is cluster-wide by nature: reviewing the tokens that agents in pods
show the TLS broker (``hive_core.tokenreview``). TokenReview is a cluster
resource, so it comes from a ClusterRoleBinding to the built-in
``system:auth-delegator`` ClusterRole (``create`` on tokenreviews and
subjectaccessreviews, nothing else): the same grant every aggregated API
server has. The broker also reads the token's pod, which the Role's ``pods:
get`` already allows. ``tests/k8s/test_broker.py`` runs the broker with
exactly these grants.
"""

from __future__ import annotations

from typing import Any

from reconciler.runtime.kubernetes_objects import MANAGED_BY, OURS

ROLE = "hyperhive-daemon"
AUTH_DELEGATOR = "system:auth-delegator"

RULES: tuple[dict[str, Any], ...] = (
    {"apiGroups": ["apps"], "resources": ["statefulsets"],
     "verbs": ["get", "list", "watch", "create", "patch", "delete"]},
    {"apiGroups": ["apps"], "resources": ["statefulsets/scale"], "verbs": ["get", "patch"]},
    {"apiGroups": [""], "resources": ["serviceaccounts", "configmaps"],
     "verbs": ["get", "create", "patch", "delete"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["pods/proxy"], "verbs": ["get", "create"]},
    {"apiGroups": [""], "resources": ["persistentvolumeclaims"], "verbs": ["get", "delete"]},
    {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"],
     "verbs": ["get", "create", "patch", "delete"]},
)  # fmt: skip


def manifests(namespace: str, account: str) -> list[dict[str, Any]]:
    """The Role and its RoleBinding to ServiceAccount ``account`` (the daemon's), both in ``namespace``,
    and the ClusterRoleBinding of that account to ``system:auth-delegator`` (TokenReview)."""
    meta = {"namespace": namespace, "labels": {MANAGED_BY: OURS}}
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": ROLE, **meta},
            "rules": [dict(rule) for rule in RULES],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": ROLE, **meta},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": ROLE},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            # cluster-scoped: one per (namespace, account), so two swarms' bindings never collide
            "metadata": {
                "name": f"hyperhive-tokenreview-{namespace}-{account}",
                "labels": {MANAGED_BY: OURS},
            },
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": AUTH_DELEGATOR,
            },
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
        },
    ]
