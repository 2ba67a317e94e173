"""Test seam: a stand-in agent that replaces the harness (`hive-harness serve`) in reconciler tests.

The runtime must not care what it runs, so tests launch this instead: it
reads its launch config from ``HIVE_AGENT_CONFIG``, connects to
``HIVE_SOCKET`` and announces itself with the same ``hello`` request the
harness sends, then stays up until killed. Behaviour for a test comes from
the agent's ``description`` in desired state (so no per-agent command is
needed), as space-separated words:

    fake:exit=N        exit at once with code N (a crash loop)
    fake:probe=P1,P2   try to list and read each path; write what happened to /state/probe.txt
    fake:slow=S        sleep S seconds before saying hello (a slow start)
    fake:die=S         say hello, then exit with code 5 after S seconds (crashes after a good start)
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
from pathlib import Path


def _options(description: str) -> dict[str, str]:
    out = {}
    for word in description.split():
        if word.startswith("fake:") and "=" in word:
            key, _, value = word[5:].partition("=")
            out[key] = value
    return out


def _probe(targets: str, state: Path) -> None:
    results = []
    for target in targets.split(","):
        try:
            found = os.listdir(target)
            for entry in found:
                full = os.path.join(target, entry)
                if os.path.isfile(full):
                    Path(full).read_bytes()
            results.append(f"READ {target}: {sorted(found)}")
        except OSError as exc:
            results.append(f"DENIED {target}: {exc.__class__.__name__}")
    (state / "probe.txt").write_text("\n".join(results) + "\n")


def _hello(path: str) -> socket.socket | None:
    for _ in range(50):
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(path)
            line = json.dumps({"op": "hello", "pid": os.getpid(), "web_port": 0}) + "\n"
            sock.sendall(line.encode())
            return sock
        except OSError:
            time.sleep(0.1)
    return None


def main() -> int:
    config = json.loads(Path(os.environ["HIVE_AGENT_CONFIG"]).read_text())
    state = Path(os.environ["HIVE_AGENT_STATE"])
    opts = _options(config.get("description", ""))
    print(f"fake agent {config['name']} model={config['model']} pid={os.getpid()}", flush=True)
    (state / "launched.json").write_text(json.dumps(config))
    if "exit" in opts:
        print(f"fake agent {config['name']}: exiting at once with {opts['exit']}", flush=True)
        return int(opts["exit"])
    if "probe" in opts:
        _probe(opts["probe"], state)
    if "slow" in opts:
        time.sleep(float(opts["slow"]))
    sock = _hello(os.environ["HIVE_SOCKET"])
    print(f"fake agent {config['name']}: hello {'sent' if sock else 'failed (no socket)'}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if "die" in opts:
        time.sleep(float(opts["die"]))
        print(f"fake agent {config['name']}: dying with 5", flush=True)
        return 5
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
