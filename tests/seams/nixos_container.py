"""Test seam: a recording stand-in for `nixos-container` (there is no NixOS host here).

Placed on PATH as `nixos-container` by the nixos driver tests. Every call is
appended to ``$NIXOS_CONTAINER_RECORD`` as one JSON line (argv); containers
are directories under ``$NIXOS_CONTAINER_STATE`` holding their status.
`create` and `update` print a few build lines with pauses, like a Nix build,
so the tests can see output streamed while the command still runs; a
container named `broken` fails to build.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    with open(os.environ["NIXOS_CONTAINER_RECORD"], "a") as rec:
        rec.write(json.dumps(argv) + "\n")
    state = Path(os.environ["NIXOS_CONTAINER_STATE"])
    state.mkdir(parents=True, exist_ok=True)
    verb, args = argv[0], argv[1:]
    if verb == "list":
        print("\n".join(sorted(p.name for p in state.iterdir())))
        return 0
    box = state / args[0]
    if verb in ("create", "update"):
        return _build(verb, box, args)
    if not box.exists():
        print(f"/etc/nixos-containers/{args[0]}.conf: No such file", file=sys.stderr)
        return 1
    if verb == "status":
        print((box / "status").read_text().strip())
    elif verb in ("start", "stop"):
        (box / "status").write_text("up" if verb == "start" else "down")
    elif verb == "destroy":
        shutil.rmtree(box)
    return 0


def _build(verb: str, box: Path, args: list[str]) -> int:
    done = box.parent.parent / "build-finished"
    done.unlink(missing_ok=True)
    for step in ("evaluating", "building '/nix/store/abc-nixos-system.drv'", "activating"):
        print(f"{verb} {args[0]}: {step}", flush=True)
        time.sleep(0.15)
    if args[0] == "broken":
        print("error: attribute 'nonsense' missing", flush=True)
        return 1
    box.mkdir(exist_ok=True)
    if verb == "create":
        (box / "status").write_text("down")
    done.write_text("yes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
