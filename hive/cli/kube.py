"""`hive kube rbac`: the Role (and its bindings) the daemon needs to run agents on Kubernetes.

Printed as one JSON `List` that `kubectl apply -f -` takes as it is; the rules are
``reconciler.runtime.kubernetes_rbac`` (the ones ``tests/k8s/test_rbac.py`` runs the driver
with). No YAML library is needed for that: JSON is YAML.
"""

from __future__ import annotations

import json
import re
from typing import Annotated

import typer

from hive_kit.errors import UserError

kube_app = typer.Typer(
    help="The kubernetes runtime's cluster side (docs/kubernetes.md).", no_args_is_help=True
)

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def register(app: typer.Typer) -> None:
    app.add_typer(kube_app, name="kube")


def _label(what: str, value: str) -> str:
    if not _DNS_LABEL.fullmatch(value):
        raise UserError(
            f"{what} {value!r} is not a Kubernetes name: use at most 63 lowercase letters, digits "
            "and hyphens, starting and ending with a letter or digit"
        )
    return value


@kube_app.command("rbac")
def rbac(
    namespace: Annotated[
        str,
        typer.Option(
            envvar="HIVE_KUBE_NAMESPACE", help="The namespace the agents run in (HIVE_KUBE_NAMESPACE)."
        ),
    ] = "hyperhive",
    account: Annotated[
        str, typer.Option(help="The ServiceAccount the daemon runs as, in that namespace.")
    ] = "hyperhive",
) -> None:
    """Print the daemon's Role and bindings (TokenReview too): `hive kube rbac | kubectl apply -f -`."""
    from reconciler.runtime.kubernetes_rbac import manifests

    items = manifests(_label("namespace", namespace), _label("service account", account))
    typer.echo(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}, indent=2))
