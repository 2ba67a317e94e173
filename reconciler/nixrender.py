"""Rendering the meta flake: jinja2 templates (`reconciler/templates/`) → Nix files, a pure function.

``render_flake`` returns path → text for the whole flake directory: the
flake itself (one ``nixosConfigurations.<name>`` per agent) and per agent its
launch JSON and optional agent.nix. The container modules and hive-harness
come from the flake's ``hyperhive`` input, and everything else from its
``nixpkgs`` input: both pinned by the host (``FlakeInputs``, which the NixOS
module hands the daemon in its environment) to store paths, so a container
runs the revisions the host runs and a build needs no network.
``write_flake`` writes only files whose content changed (so `nixos-container
update` sees no spurious change), removes agents that are gone and keeps
the flake.lock Nix writes. Every rendered file is checked with
`nix-instantiate --parse` in the tests, and the rendered flake is evaluated
against a stand-in nixpkgs (tests/nixos/).

The flake is the inside of a container. Its host side (network, users, bind
mounts) is ``render_container``: one Nix expression per agent, applying
`reconciler/nix/container.nix` to that agent's host paths, which the nixos
runtime renders from its launch spec and evaluates into the container's
conf file.

The host's side of what a container is built from (``FlakeInputs``: the two
pins, the system, and whether the model gateway holds the key) is not desired
state, so the reconciler's fingerprint does not cover it. The nixos runtime
records it beside each agent's build (``build/host-inputs.json``) and reports
an agent whose record differs as due for a rebuild (``describe_changes``), so
an upgraded host rebuilds every container without touching any fingerprint.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from desired.schema import DesiredState
from hive_kit.envfile import read_env
from hive_kit.errors import PermanentError
from hive_kit.paths import StateLayout
from reconciler.model import FieldChange

# Package data (pyproject's package-data), so a wheel install renders as a checkout does. The Nix
# modules are handed to nix-instantiate by path: `reconciler` is a regular package, never zipped,
# so `files()` is a real directory.
NIX_TEMPLATES = Path(str(resources.files("reconciler").joinpath("nix")))
ENV_HYPERHIVE_INPUT = "HIVE_HYPERHIVE_INPUT"
ENV_NIXPKGS_INPUT = "HIVE_NIXPKGS_INPUT"
ENV_NIX_SYSTEM = "HIVE_NIX_SYSTEM"
KEPT = frozenset({"flake.lock"})
"""Files Nix writes into the flake dir: ``write_flake`` leaves them (re-locking hashes nixpkgs)."""

_STORE_PATH = re.compile(r"/nix/store/[0-9a-z]{32}-[^/?#\s]+(/[^?#\s]*)?")
_PATH_REF = re.compile(r"path:(?P<path>/[^?#\s]*)(?P<query>\?[^#\s]*)?")
_SYSTEM = re.compile(r"[a-z0-9_]+-[a-z0-9_]+")


@dataclass(frozen=True)
class FlakeInputs:
    """The meta flake's inputs, pinned by the host: hyperhive's source and the host's nixpkgs.

    Each is a ``path:`` flake reference to something that cannot change under
    it: a /nix/store path, or any path with a ``narHash`` Nix checks.
    """

    hyperhive: str
    nixpkgs: str
    system: str = "x86_64-linux"
    model_gateway: bool = False
    """The host holds the model key (and ``HIVE_MODEL_GATEWAY`` is not off): containers get
    ``HIVE_MODEL_SOCKET``, never the key (harness-base.nix). Never the key itself: the meta flake
    is copied into the world-readable Nix store."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, secrets: Path | None = None) -> FlakeInputs:
        """Read what services.hyperhive set (and whether ``env`` or the ``secrets`` file holds a
        model key); a PermanentError says what is missing and the fix."""
        from reconciler.runtime.local import GATEWAY_SWITCH, HOST_KEYS, gateway_on

        env = os.environ if env is None else env
        keys = {**(read_env(secrets, HOST_KEYS) if secrets else {}), **env}
        gateway = gateway_on(keys, switch=env.get(GATEWAY_SWITCH))
        problems = []
        values = {}
        for key, var in (("hyperhive", ENV_HYPERHIVE_INPUT), ("nixpkgs", ENV_NIXPKGS_INPUT)):
            value = env.get(var, "")
            why = pin_problem(value) if value else "is not set"
            if why:
                problems.append(f"{var} {why}")
            values[key] = value
        system = env.get(ENV_NIX_SYSTEM) or "x86_64-linux"
        if not _SYSTEM.fullmatch(system):
            problems.append(f"{ENV_NIX_SYSTEM}={system!r} is not a Nix system such as x86_64-linux")
        if problems:
            raise PermanentError(
                "the nixos runtime builds every container from the host's own hyperhive and nixpkgs, "
                f"pinned: {'; '.join(problems)}. Fix: run the daemon from the NixOS module "
                "(services.hyperhive sets them), or set them to path:/nix/store/... references"
            )
        return cls(values["hyperhive"], values["nixpkgs"], system, gateway)

    def to_json(self) -> dict[str, Any]:
        return {
            "hyperhive": self.hyperhive,
            "nixpkgs": self.nixpkgs,
            "system": self.system,
            "model_gateway": self.model_gateway,
        }

    def changes_from(self, old: Mapping[str, Any]) -> tuple[FieldChange, ...]:
        """What differs from ``old`` (a ``to_json`` recorded at a build), field by field, each
        named ``host.<field>`` so a plan never reads it as a field of the agent's JSON."""
        now = self.to_json()
        return tuple(FieldChange(f"host.{k}", old.get(k), now[k]) for k in now if old.get(k) != now[k])


def describe_changes(changes: tuple[FieldChange, ...]) -> str:
    """The plan's reason: "host's nix inputs changed (hyperhive 00000000 → 11111111)"."""
    parts = []
    for change in changes:
        field = change.field.removeprefix("host.")
        if field == "model_gateway":
            parts.append(f"model gateway {_on(change.old)} → {_on(change.new)}")
        else:
            parts.append(f"{field} {_short(change.old)} → {_short(change.new)}")
    return f"host's nix inputs changed ({'; '.join(parts)})"


def _on(value: object) -> str:
    return "on" if value else "off"


def _short(ref: object) -> str:
    """A pin as people tell them apart: its store hash's first 8 characters, or its narHash's."""
    if not isinstance(ref, str):
        return "∅"
    found = _PATH_REF.fullmatch(ref)
    if found is None:
        return ref
    store = _STORE_PATH.fullmatch(found["path"])
    if store is not None:
        return found["path"].split("/")[3][:8]
    nar = re.search(r"narHash=([^&]+)", found["query"] or "")
    return nar[1][:15] if nar else ref


def pin_problem(ref: str) -> str | None:
    """Why ``ref`` is not a pinned ``path:`` flake reference (None if it is)."""
    found = _PATH_REF.fullmatch(ref)
    if found is None:
        return f"= {ref!r} is not a path: flake reference (path:/nix/store/...)"
    if _STORE_PATH.fullmatch(found["path"]) or "narHash=" in (found["query"] or ""):
        return None
    return f"= {ref!r} is not pinned: use a /nix/store path, or add ?narHash=sha256-..."


def nix_string(value: Any) -> str:
    """A Nix string literal; JSON's escaping is valid Nix once `${` is escaped too."""
    return json.dumps(str(value)).replace("${", "\\${")


@cache
def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("reconciler", "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - Nix, not HTML; values pass through the nix filter
    )
    env.filters["nix"] = nix_string
    return env


def render_flake(
    desired: DesiredState, revision: str, configs: dict[str, str], inputs: FlakeInputs
) -> dict[str, str]:
    """Every file of the flake dir; ``configs`` maps agent name → its rendered agent.json text."""
    agents: list[dict[str, Any]] = [
        {"name": name, "role": desired.agents[name].role.value, "has_nix": name in desired.agent_nix}
        for name in sorted(desired.agents.keys() & configs.keys())
    ]
    files = {
        "flake.nix": _env()
        .get_template("meta-flake.nix.j2")
        .render(agents=agents, revision=revision, inputs=inputs)
    }
    for agent in agents:
        name = str(agent["name"])
        files[f"agents/{name}/agent.json"] = configs[name]
        if agent["has_nix"]:
            files[f"agents/{name}/agent.nix"] = desired.agent_nix[name]
    return files


def render_container(
    name: str, *, state_dir: Path, run_dir: Path, config_file: Path, meta: tuple[Path, Path] | None = None
) -> str:
    """The host side of agent ``name``'s container, as a Nix expression (see container.nix).

    ``meta`` (the manager's): the read-only meta view's directory and the meta repo it shows.
    """
    return (
        _env()
        .get_template("container.nix.j2")
        .render(
            name=name,
            template=NIX_TEMPLATES / "container.nix",
            state_dir=state_dir,
            run_dir=run_dir,
            config_file=config_file,
            meta_view=meta[0] if meta else None,
            meta_repo=meta[1] if meta else None,
        )
    )


def write_flake(root: Path, files: dict[str, str]) -> list[str]:
    """Make ``root`` hold exactly ``files``; returns the paths that changed."""
    changed = []
    for rel, text in files.items():
        path = root / rel
        if path.exists() and path.read_text() == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text)
        tmp.replace(path)
        changed.append(rel)
    for path in sorted(root.rglob("*")) if root.exists() else []:
        rel = path.relative_to(root).as_posix()
        if path.is_file() and rel not in files and rel not in KEPT:
            path.unlink()
            changed.append(rel)
    return changed


def sync_flake(
    layout: StateLayout, desired: DesiredState, revision: str, inputs: FlakeInputs | None = None
) -> list[str]:
    """Render the flake for every agent that has a launch config in its build dir.

    ``inputs`` default to the host's pins in the environment, and whether it (or ``secrets.env``)
    holds a model key (``FlakeInputs.from_env``).
    """
    inputs = inputs or FlakeInputs.from_env(secrets=layout.secrets)
    configs = {}
    for name in desired.agents:
        path = layout.agent_build(name) / "agent.json"
        if path.exists():
            configs[name] = path.read_text()
    return write_flake(layout.root / "nix", render_flake(desired, revision, configs, inputs))
