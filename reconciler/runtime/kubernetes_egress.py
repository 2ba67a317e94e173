"""An agent's egress as a NetworkPolicy (pure): its pod may reach the broker, DNS, and the operator's CIDRs.

On this host an agent's only way out is the egress proxy on its socket, which checks each
connection against the agent's allow-list of host names (docs/security.md). A pod reaches the
network itself, and a NetworkPolicy speaks addresses, not names: the allow-list cannot be
written as one. So each agent gets a policy ``hive-<agent>`` selecting its pod (its labels) with:

- **ingress: none.** Nothing connects to an agent's pod; the harness dials out to the broker.
  (The agent page through the API server's pod proxy, when it comes, will need a rule here.)
- **egress** to the TLS broker, ``HIVE_KUBE_BROKER_URL``'s port on its address (an ``ipBlock``
  of that one address when the URL names an IP; a DNS name cannot be an ``ipBlock``, so then the
  port is open to any address), to DNS (port 53, UDP and TCP, on pods labelled
  ``k8s-app=kube-dns`` in any namespace), to ``HIVE_KUBE_MODEL_BASE_URL``'s port (on its address
  when it names an IP, as for the broker), and to ``HIVE_KUBE_EGRESS_CIDRS`` on 443: the model
  API's addresses (the pod calls it directly with the operator's key) and whatever else the
  operator opens, by address.

A NetworkPolicy is enforced only by a CNI that implements them (Calico, Cilium, ...); on one
that does not (the test cluster's bridge plugin, flannel alone) it is an object that changes
nothing. Only ours are touched (the managed-by label), as for every other object.
"""

from __future__ import annotations

import ipaddress

from hive_kit.broker import parse_url
from hive_kit.errors import UserError
from reconciler.runtime import kubernetes_objects as ko

DNS_POD_LABELS = {"k8s-app": "kube-dns"}  # CoreDNS keeps kube-dns's label in every distribution
HTTPS = 443


def checked_cidrs(text: str) -> tuple[str, ...]:
    """``HIVE_KUBE_EGRESS_CIDRS``: comma-separated CIDRs (or addresses), each normalised."""
    out: list[str] = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        try:
            out.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise UserError(
                f"HIVE_KUBE_EGRESS_CIDRS: {item!r} is not an address or CIDR; e.g. "
                "160.79.104.0/23,2607:6bc0::/48 (the Anthropic API's, docs/kubernetes.md)"
            ) from None
    return tuple(dict.fromkeys(out))


def _host_block(host: str) -> list[ko.Json]:
    """The broker's address as ``to`` peers: one ipBlock for an IP, none (any address) for a name."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return []
    return [{"ipBlock": {"cidr": f"{ip}/{ip.max_prefixlen}"}}]


def _endpoint_rule(host: str, port: int) -> ko.Json:
    """One host:port the pod dials (the broker, the model gateway): its address, or the port alone."""
    rule: ko.Json = {"ports": [{"protocol": "TCP", "port": port}]}
    peers = _host_block(host)
    if peers:
        rule["to"] = peers
    return rule


def network_policy(agent: str, s: ko.KubeSettings) -> ko.Json:
    egress: list[ko.Json] = [
        {
            "to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": dict(DNS_POD_LABELS)}}],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
        }
    ]
    if s.broker_url:
        egress.append(_endpoint_rule(*parse_url(s.broker_url, "HIVE_KUBE_BROKER_URL")))
    if s.model_base_url:
        egress.append(_endpoint_rule(*ko.model_endpoint(s.model_base_url)))
    if s.egress_cidrs:
        egress.append(
            {
                "to": [{"ipBlock": {"cidr": cidr}} for cidr in s.egress_cidrs],
                "ports": [{"protocol": "TCP", "port": HTTPS}],
            }
        )
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": ko.object_name(agent), "namespace": s.namespace, "labels": ko.labels(agent)},
        "spec": {
            "podSelector": {"matchLabels": ko.labels(agent)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [],
            "egress": egress,
        },
    }
