"""An agent's egress as a NetworkPolicy (pure): its pod may reach the broker, DNS, and the operator's CIDRs.

On this host an agent's only way out is the egress proxy on its socket, which checks each
connection against the agent's allow-list of host names (docs/security.md). A pod reaches the
network itself, and a NetworkPolicy speaks addresses, not names: the allow-list cannot be
written as one. So each agent gets a policy ``hive-<agent>`` selecting its pod (its labels) with:

- **ingress: the page port only** (``kubernetes_page.ingress``), from any address: the dashboard
  reaches the agent page through the API server's pod proxy, whose connections come from the API
  server or the node, and a policy cannot name those portably. Every request on it needs the
  agent's page token (``hive_kit.pagetoken``), which is the protection where policies are not
  enforced. Nothing else connects to an agent's pod; the harness dials out to the broker. Without
  the TLS broker there is no page port and no ingress at all.
- **egress** to the TLS broker, ``HIVE_KUBE_BROKER_URL``'s port on its address (an ``ipBlock``
  of that one address when the URL names an IP; a DNS name cannot be an ``ipBlock``, so then the
  port is open to any address), to DNS (port 53, UDP and TCP, on pods labelled
  ``k8s-app=kube-dns`` in any namespace), to ``HIVE_KUBE_MODEL_BASE_URL``'s port (on its address
  when it names an IP, else on the CIDRs below), and to ``HIVE_KUBE_EGRESS_CIDRS`` on 443: the model
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
from reconciler.runtime import kubernetes_page as kpage

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


def _broker_rule(host: str, port: int) -> ko.Json:
    """The broker's host:port: on its address, or (a name) the port to any address."""
    rule: ko.Json = {"ports": [{"protocol": "TCP", "port": port}]}
    peers = _host_block(host)
    if peers:
        rule["to"] = peers
    return rule


def _model_rule(s: ko.KubeSettings) -> ko.Json | None:
    """``HIVE_KUBE_MODEL_BASE_URL``'s port, on its address, or (a name, which a policy cannot say) on
    the operator's CIDRs. Never the port to any address, as for the broker: for 443 that would open
    every HTTPS server to an agent. A name on 443 needs no rule of its own (the CIDR rule is 443)."""
    if not s.model_base_url:
        return None
    host, port = ko.model_endpoint(s.model_base_url)
    peers = _host_block(host)
    if not peers and port != HTTPS:
        peers = [{"ipBlock": {"cidr": cidr}} for cidr in s.egress_cidrs]
    if not peers:
        return None
    return {"to": peers, "ports": [{"protocol": "TCP", "port": port}]}


def model_api_warning(s: ko.KubeSettings) -> str | None:
    """What the daemon says once at start when, under an enforcing CNI, pods could not reach the model."""
    fix = "where the CNI enforces NetworkPolicies, agents in pods reach only the broker and DNS, "
    if s.model_base_url:
        host, _ = ko.model_endpoint(s.model_base_url)
        if _host_block(host) or s.egress_cidrs:
            return None
        return (
            f"HIVE_KUBE_MODEL_BASE_URL names a host ({host}) and HIVE_KUBE_EGRESS_CIDRS is not set: "
            f"{fix}not the model gateway; list its addresses in HIVE_KUBE_EGRESS_CIDRS (docs/kubernetes.md)"
        )
    if s.egress_cidrs:
        return None
    return f"HIVE_KUBE_EGRESS_CIDRS is not set: {fix}not the model API (docs/kubernetes.md)"


def network_policy(agent: str, s: ko.KubeSettings) -> ko.Json:
    egress: list[ko.Json] = [
        {
            "to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": dict(DNS_POD_LABELS)}}],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
        }
    ]
    if s.broker_url:
        egress.append(_broker_rule(*parse_url(s.broker_url, "HIVE_KUBE_BROKER_URL")))
    model = _model_rule(s)
    if model is not None:
        egress.append(model)
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
            "ingress": kpage.ingress(s),
            "egress": egress,
        },
    }
