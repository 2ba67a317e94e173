"""Test seam: a recording stand-in for `nixos-container` and `journalctl -M` (there is no NixOS host here).

Placed on PATH as `nixos-container` by the nixos driver tests (and as
`journalctl`: the same file answers by the name it is run as). Every call is
appended to ``$NIXOS_CONTAINER_RECORD`` as one JSON line (argv); containers
are directories under ``$NIXOS_CONTAINER_STATE`` holding their status.
`create` and `update` print a few build lines with pauses, like a Nix build,
so the tests can see output streamed while the command still runs; a
container named `broken` fails to build, and so does every container while
the meta flake names ``$NIXOS_CONTAINER_BAD_INPUT`` (a pin that breaks the build).

With ``$NIXOS_CONTAINER_CONF_DIR`` set it also plays the host's part in the
container's network and mounts: `create` writes `<name>.conf` the way the
real `nixos-container create` does (always a veth pair with 10.233.x
addresses), and `start` reads it back the way `container@.service` does (an
EnvironmentFile) and records the systemd-nspawn flags its start script
would derive from it in the container's `nspawn.json`, so the tests can see
what the container would really get.

As `journalctl` it reads the container's journal: ``<container>/journal.jsonl``
holds one ``{"unit", "message"}`` object a line (``start`` writes what
systemd and the harness would; a test may append more). It takes only the
flags the runtime should pass (``-M NAME [-u UNIT] -n N --no-pager
--output=short-iso``; anything else exits 2), answers the last N entries of
UNIT (or of every unit), and refuses a container that is not up as
`journalctl -M` does for a machine that is not running. Its calls are
recorded too, as ``["journalctl", *argv]``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    journal = Path(sys.argv[0]).name == "journalctl"
    with open(os.environ["NIXOS_CONTAINER_RECORD"], "a") as rec:
        rec.write(json.dumps(["journalctl", *argv] if journal else argv) + "\n")
    state = Path(os.environ["NIXOS_CONTAINER_STATE"])
    if journal:
        return journalctl(state, argv)
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
        if verb == "start" and (conf := _conf(args[0])) is not None:
            (box / "nspawn.json").write_text(json.dumps(nspawn_flags(_read_env(conf))))
        if verb == "start":
            _log(box, "init.scope", "Reached target multi-user.target - Multi-User System.")
            _log(box, "hive-harness.service", f"{args[0]}: agent system prompt from /nix/store/…/agent.md")
        (box / "status").write_text("up" if verb == "start" else "down")
    elif verb == "destroy":
        shutil.rmtree(box)
        if (conf := _conf(args[0])) is not None:
            conf.unlink(missing_ok=True)
    return 0


def _log(box: Path, unit: str, message: str) -> None:
    with open(box / "journal.jsonl", "a") as out:
        out.write(json.dumps({"unit": unit, "message": message}) + "\n")


def journalctl(state: Path, argv: list[str]) -> int:
    machine, unit, count, rest = None, None, 10, list(argv)
    while rest:
        flag = rest.pop(0)
        if flag == "-M" and rest:
            machine = rest.pop(0)
        elif flag == "-u" and rest:
            unit = rest.pop(0)
        elif flag == "-n" and rest:
            count = int(rest.pop(0))
        elif flag not in ("--no-pager", "--output=short-iso"):
            print(f"journalctl stand-in: unexpected argument {flag!r}", file=sys.stderr)
            return 2
    box = state / str(machine)
    if machine is None or not (box / "status").exists() or (box / "status").read_text().strip() != "up":
        print(f"No machine '{machine}' known", file=sys.stderr)
        return 1
    path = box / "journal.jsonl"
    entries = [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
    chosen = [e for e in entries if unit is None or e["unit"] == unit][-count:] if count > 0 else []
    for entry in chosen:
        ident = entry["unit"].removesuffix(".service").removesuffix(".scope")
        print(f"2026-01-01T00:00:00+0000 {machine} {ident}[1]: {entry['message']}")
    if not chosen:
        print("-- No entries --")
    return 0


def _conf(name: str) -> Path | None:
    conf_dir = os.environ.get("NIXOS_CONTAINER_CONF_DIR")
    return Path(conf_dir) / f"{name}.conf" if conf_dir else None


def _read_env(path: Path) -> dict[str, str]:
    """KEY=value lines as systemd's EnvironmentFile= reads them (double quotes stripped)."""
    env = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        env[key.strip()] = value
    return env


def nspawn_flags(env: dict[str, str]) -> list[str]:
    """The network, user and bind flags nixpkgs' container@.service start script passes to nspawn."""
    flags = []
    if env.get("PRIVATE_NETWORK") == "1":
        flags.append("--private-network")
    if env.get("PRIVATE_USERS"):
        flags.append(f"--private-users={env['PRIVATE_USERS']}")
    if any(env.get(k) for k in ("HOST_ADDRESS", "LOCAL_ADDRESS", "HOST_ADDRESS6", "LOCAL_ADDRESS6")):
        flags.append("--network-veth")
    flags += [f"--port={port}" for port in env.get("HOST_PORT", "").split(",") if port]
    if env.get("HOST_BRIDGE"):
        flags.append(f"--network-bridge={env['HOST_BRIDGE']}")
    if env.get("NETWORK_NAMESPACE_PATH"):
        flags.append(f"--network-namespace-path={env['NETWORK_NAMESPACE_PATH']}")
    flags += [f"--network-interface={i}" for i in env.get("INTERFACES", "").split()]
    flags += [f"--network-macvlan={i}" for i in env.get("MACVLANS", "").split()]
    return flags + env.get("EXTRA_NSPAWN_FLAGS", "").split()


def _build(verb: str, box: Path, args: list[str]) -> int:
    done = box.parent.parent / "build-finished"
    done.unlink(missing_ok=True)
    for step in ("evaluating", "building '/nix/store/abc-nixos-system.drv'", "activating"):
        print(f"{verb} {args[0]}: {step}", flush=True)
        time.sleep(0.15)
    if args[0] == "broken":
        print("error: attribute 'nonsense' missing", flush=True)
        return 1
    flake = Path(next((a for a in args if "#" in a), "").partition("#")[0]) / "flake.nix"
    bad = os.environ.get("NIXOS_CONTAINER_BAD_INPUT")
    if bad and flake.is_file() and bad in flake.read_text():
        print(f"error: builder for '/nix/store/abc-hive-harness.drv' failed (input {bad})", flush=True)
        return 1
    box.mkdir(exist_ok=True)
    if verb == "create":
        (box / "status").write_text("down")
        if (conf := _conf(args[0])) is not None:
            taken = len(list(conf.parent.glob("*.conf"))) if conf.parent.exists() else 0
            flake = next((a for a in args if "#" in a), "").partition("#")[0]
            conf.parent.mkdir(parents=True, exist_ok=True)
            conf.write_text(
                f"PRIVATE_NETWORK=1\nHOST_ADDRESS=10.233.{taken + 1}.1\nLOCAL_ADDRESS=10.233.{taken + 1}.2\n"
                f"HOST_BRIDGE=\nHOST_PORT=\nAUTO_START=0\nFLAKE={flake}\n"
            )
    done.write_text("yes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
