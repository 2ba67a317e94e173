"""Test seam: evaluate hyperhive's Nix against the stand-in nixpkgs (`nixlib.nix`, `nixpkgs.nix`).

There is no nixpkgs on this machine and none can be fetched (nixlib.nix's
header says what the stand-in replaces and what it does not do). These
helpers build one Nix expression around the files under test and run the
real `nix-instantiate --eval --strict --json` on it: the modules' own logic
(defaults read from JSON, assertions, the ExecStart string, the flake's
outputs) is evaluated for real, nixpkgs' is not.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SEAMS = Path(__file__).resolve().parent
NIXLIB = SEAMS / "nixlib.nix"
NIXPKGS = SEAMS / "nixpkgs.nix"
NIXOS_BASE = "{ users.users.root.uid = 0; users.groups.root.gid = 0; }"
"""What every NixOS configuration defines that the modules read (nixpkgs' users-groups.nix)."""


class NixError(Exception):
    """nix-instantiate refused the expression; the message is its stderr."""


def path(p: Path | str) -> str:
    """A Nix path expression for ``p`` (safe for any characters)."""
    return f"(/. + {json.dumps(str(Path(p).resolve()))})"


def nix_eval(expr: str) -> Any:
    done = subprocess.run(
        ["nix-instantiate", "--eval", "--strict", "--json", "-E", expr],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise NixError(done.stderr)
    return json.loads(done.stdout)


def prelude(system: str = "x86_64-linux") -> str:
    """``seam`` (nixpkgs.nix), ``lib``, ``pkgs`` and ``nixpkgs`` (the flake stand-in) in scope."""
    return (
        f"seam = import {path(NIXPKGS)} {{ system = {json.dumps(system)}; }};\n"
        "lib = seam.flake.lib; pkgs = seam.pkgs; nixpkgs = seam.flake;\n"
    )


def eval_system(
    modules: Sequence[str], select: str, *, special_args: str = "{ }", checked: bool = False
) -> Any:
    """Evaluate ``modules`` (Nix expressions) as one NixOS system and return ``select`` of it.

    ``select`` sees ``config``, ``options`` and ``lib``; with ``checked`` the
    config is the one a build would see, so a failed assertion raises
    NixError("Failed assertions: ...") as `nixos-rebuild` would.
    """
    listed = " ".join(f"({m})" for m in (NIXOS_BASE, *modules))
    expr = f"""
      let
        {prelude()}
        result = lib.nixosSystem {{ modules = [ {listed} ]; specialArgs = {special_args}; }};
        config = {"result.toplevel" if checked else "result.config"};
        options = result.options;
      in {select}
    """
    return nix_eval(expr)


def flake_outputs(flake_dir: Path, inputs: str, self_path: str) -> str:
    """A Nix expression: the outputs of ``flake_dir``/flake.nix given ``inputs`` (a Nix attrset
    expression) and itself as ``self`` with outPath ``self_path``, the way Nix calls them."""
    self_ = f"outputs // {{ outPath = {json.dumps(self_path)}; }}"
    return (
        f"(let flake = import {path(flake_dir / 'flake.nix')}; "
        f"outputs = flake.outputs ({inputs} // {{ self = {self_}; }}); in outputs)"
    )


HARNESS_PACKAGE = (
    '{ type = "derivation"; name = "hyperhive"; outPath = "/nix/store/' + "0" * 32 + '-hyperhive"; }'
)
"""A stand-in for the hyperhive input's package (hive-harness) in an agent's container."""


def eval_agent(
    base: Path,
    config_file: Path,
    agent_nix: Sequence[str] = (),
    select: str = "config.hyperhive",
    *,
    checked: bool = False,
) -> Any:
    """One agent's container as the meta flake builds it: ``base``/harness-base.nix with the
    agent's launch config and hive-harness in specialArgs, then its agent.nix (Nix expressions)."""
    agent = f"{{ configFile = {json.dumps(str(config_file))}; package = {HARNESS_PACKAGE}; }}"
    special = f"{{ hyperhiveAgent = {agent}; }}"
    modules = [path(base / "harness-base.nix"), *agent_nix]
    return eval_system(modules, select, special_args=special, checked=checked)
