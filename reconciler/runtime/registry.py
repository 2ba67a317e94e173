"""The runtime drivers by name: the one list `hive serve`, `hive reconcile` and the service offer.

Every place that takes ``--runtime`` validates against ``RUNTIMES`` and
builds through ``make_runtime``, so adding a driver is one entry here. The
drivers themselves are imported only when built: the CLI imports this module
to list the names, and must not pay for (or, on a host without Nix, fail on)
a driver it will not use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hive_kit.errors import UserError
from hive_kit.paths import StateLayout

if TYPE_CHECKING:
    from hive_core.identities import Identities, UidRange
    from reconciler.runtime.base import Runtime


@dataclass(frozen=True)
class RuntimeOptions:
    kind: str = "local"  # a key of RUNTIMES
    command: tuple[str, ...] = ()  # the agent program (local); default: python -m hive_harness serve
    sandbox: bool = True  # False: agents run unsandboxed on purpose (tests)
    insecure: bool = False  # run agents unsandboxed when this host cannot sandbox them (--insecure-sandbox)
    uid_range: UidRange | None = None  # agents' uids (--agent-uids); default $HIVE_AGENT_UIDS or 60100-60999
    identities: Identities | None = None  # the daemon's allocation (hive serve); else the runtime opens one


def _local(layout: StateLayout, options: RuntimeOptions) -> Runtime:
    from reconciler.runtime.local import DEFAULT_COMMAND, LocalRuntime

    return LocalRuntime(
        layout,
        options.command or DEFAULT_COMMAND,
        sandbox=options.sandbox,
        insecure=options.insecure,
        identities=options.identities,
        uid_range=options.uid_range,
    )


def _nixos(layout: StateLayout, options: RuntimeOptions) -> Runtime:
    from reconciler.runtime.nixos import NixosRuntime

    return NixosRuntime(layout, identities=options.identities, uid_range=options.uid_range)


def _kubernetes(layout: StateLayout, options: RuntimeOptions) -> Runtime:
    from reconciler.runtime.kubernetes import KubernetesRuntime, settings_from_env

    return KubernetesRuntime(layout, settings_from_env(layout=layout))


DRIVERS: Mapping[str, Callable[[StateLayout, RuntimeOptions], Runtime]] = {
    "local": _local,  # bubblewrap-sandboxed processes (the default)
    "nixos": _nixos,  # nixos-container, built from the rendered meta flake
    "kubernetes": _kubernetes,  # a StatefulSet per agent (docs/kubernetes.md: hive.json, HIVE_KUBE_*)
}
RUNTIMES: tuple[str, ...] = tuple(DRIVERS)
"""Every driver's name, in the order help texts list them."""


@dataclass(frozen=True)
class HostNeeds:
    """What a driver needs of the host `hive serve` runs on; `hive doctor` checks only these.

    Asked by kind, without building the driver (a kubernetes driver needs a
    cluster to be built), so no caller compares ``kind == "nixos"``.
    """

    sandbox: bool  # agents are host processes in bubblewrap: bwrap, claude on the host, orphans to find
    nix: bool  # containers are built with Nix on the host: nix-instantiate


HOST_NEEDS: Mapping[str, HostNeeds] = {
    "local": HostNeeds(sandbox=True, nix=False),
    "nixos": HostNeeds(sandbox=False, nix=True),
    "kubernetes": HostNeeds(sandbox=False, nix=False),  # the cluster runs and sandboxes agents
}


def check_runtime(kind: str) -> str:
    """``kind`` if a driver has that name; else a UserError listing the names there are."""
    if kind not in DRIVERS:
        names = " or ".join(f"--runtime {name}" for name in RUNTIMES)
        raise UserError(f"unknown runtime {kind!r}; use {names}")
    return kind


def host_needs(kind: str) -> HostNeeds:
    """What the ``kind`` driver needs of this host (a UserError for an unknown kind)."""
    return HOST_NEEDS[check_runtime(kind)]


def make_runtime(layout: StateLayout, options: RuntimeOptions) -> Runtime:
    return DRIVERS[check_runtime(options.kind)](layout, options)
