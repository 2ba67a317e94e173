"""Rendering the meta flake: jinja2 templates (`reconciler/templates/`) → Nix files, a pure function.

``render_flake`` returns path → text for the whole flake directory: the
flake itself (one ``nixosConfigurations.<name>`` per agent), the shared
modules from `reconciler/nix/`, and per agent its launch JSON and optional
agent.nix. ``write_flake`` writes only files whose content changed (so
`nixos-container update` sees no spurious change) and removes agents that
are gone. Every rendered file is checked with `nix-instantiate --parse` in
the tests.

The flake is the inside of a container. Its host side (network, users, bind
mounts) is ``render_container``: one Nix expression per agent, applying
`reconciler/nix/container.nix` to that agent's host paths, which the nixos
runtime renders from its launch spec and evaluates into the container's
conf file.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from desired.schema import DesiredState
from hive_kit.paths import StateLayout

# Package data (pyproject's package-data), so a wheel install renders as a checkout does. The Nix
# modules are handed to nix-instantiate by path: `reconciler` is a regular package, never zipped,
# so `files()` is a real directory.
NIX_TEMPLATES = Path(str(resources.files("reconciler").joinpath("nix")))
NIXPKGS_URL = "github:NixOS/nixpkgs/nixos-25.05"


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
    desired: DesiredState,
    revision: str,
    configs: dict[str, str],
    *,
    nixpkgs_url: str = NIXPKGS_URL,
    system: str = "x86_64-linux",
) -> dict[str, str]:
    """Every file of the flake dir; ``configs`` maps agent name → its rendered agent.json text."""
    agents: list[dict[str, Any]] = [
        {"name": name, "role": desired.agents[name].role.value, "has_nix": name in desired.agent_nix}
        for name in sorted(desired.agents.keys() & configs.keys())
    ]
    files = {
        "flake.nix": _env()
        .get_template("meta-flake.nix.j2")
        .render(agents=agents, revision=revision, nixpkgs_url=nixpkgs_url, system=system)
    }
    for template in sorted(NIX_TEMPLATES.glob("*.nix")):
        files[f"templates/{template.name}"] = template.read_text()
    for agent in agents:
        name = str(agent["name"])
        files[f"agents/{name}/agent.json"] = configs[name]
        if agent["has_nix"]:
            files[f"agents/{name}/agent.nix"] = desired.agent_nix[name]
    return files


def render_container(name: str, *, state_dir: Path, run_dir: Path, config_file: Path) -> str:
    """The host side of agent ``name``'s container, as a Nix expression (see container.nix)."""
    return (
        _env()
        .get_template("container.nix.j2")
        .render(
            name=name,
            template=NIX_TEMPLATES / "container.nix",
            state_dir=state_dir,
            run_dir=run_dir,
            config_file=config_file,
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
        if path.is_file() and rel not in files:
            path.unlink()
            changed.append(rel)
    return changed


def sync_flake(layout: StateLayout, desired: DesiredState, revision: str) -> list[str]:
    """Render the flake for every agent that has a launch config in its build dir."""
    configs = {}
    for name in desired.agents:
        path = layout.agent_build(name) / "agent.json"
        if path.exists():
            configs[name] = path.read_text()
    return write_flake(layout.root / "nix", render_flake(desired, revision, configs))
