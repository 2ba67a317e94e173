"""`hive forge connect | status | disconnect`, run as the operator runs them (the venv's `hive`).

Against the Forgejo stand-in (``tests/seams/forgejo.py``), which replaces a
Forgejo server that cannot run here.
"""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

from desired.repo import MetaRepo
from hive_core.forge import connection
from hive_core.forge.store import ForgeStore
from hive_core.identities import AgentIds
from hive_kit.paths import StateLayout
from reconciler.runtime.sandbox import AgentBox, HostRoot, MetaBind, bwrap_argv
from tests.conftest import run_hive
from tests.seams.forgejo import ForgejoStandIn


def hive(layout: StateLayout, *args: str) -> subprocess.CompletedProcess[str]:
    return run_hive(layout.root, "forge", *args, ok=False, COLUMNS="250")


def token_file(tmp_path: Path, token: str, name: str = "token") -> Path:
    path = tmp_path / name
    path.write_text(token + "\n")
    return path


def connect(
    layout: StateLayout, forge: ForgejoStandIn, token: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    return hive(
        layout, "connect", "--url", forge.url, "--repo", "ops/swarm", "--token-file", str(token), *extra
    )


def test_connect_status_disconnect(layout: StateLayout, forge: ForgejoStandIn, tmp_path: Path) -> None:
    assert json.loads(hive(layout, "status", "--json").stdout)["connected"] is False
    done = connect(
        layout, forge, token_file(tmp_path, forge.token), "--dashboard-url", "http://hive.test:7000/"
    )
    assert done.returncode == 0, done.stderr
    assert "ops/swarm is readable" in done.stdout and forge.token not in done.stdout + done.stderr

    kept = connection.token_path(layout)
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600 and kept.read_text().strip() == forge.token
    assert stat.S_IMODE(connection.connection_path(layout).stat().st_mode) == 0o600
    assert forge.token not in connection.connection_path(layout).read_text()
    everything = b"".join(MetaRepo(layout.meta).files_at().values())
    assert forge.token.encode() not in everything, "never in desired state"

    shown = json.loads(hive(layout, "status", "--json").stdout)
    assert shown["connected"] is True and shown["repo"] == "ops/swarm" and shown["url"] == forge.url
    assert shown["dashboard_url"] == "http://hive.test:7000" and shown["last_error"] is None
    assert shown["sender_pid"] is None, "no daemon: no one sends"
    assert forge.token not in json.dumps(shown)
    table = hive(layout, "status").stdout
    assert "ops/swarm" in table and "last API error" in table and "none" in table
    assert "nothing is sent until `hive serve` runs" in table

    gone = hive(layout, "disconnect")
    assert gone.returncode == 0 and "disconnected" in gone.stdout
    assert not kept.exists() and json.loads(hive(layout, "status", "--json").stdout)["connected"] is False
    assert "no forge was connected" in hive(layout, "disconnect").stdout


def test_bad_input_is_refused_in_a_line_and_nothing_is_stored(
    layout: StateLayout, forge: ForgejoStandIn, tmp_path: Path
) -> None:
    good = token_file(tmp_path, forge.token)
    cases = {
        "cannot read the token file": connect(layout, forge, tmp_path / "missing"),
        "not an http(s) URL": hive(
            layout, "connect", "--url", "forgejo.example", "--repo", "o/r", "--token-file", str(good)
        ),
        "is not OWNER/NAME": hive(
            layout, "connect", "--url", forge.url, "--repo", "swarm", "--token-file", str(good)
        ),
        "holds no usable token": connect(layout, forge, token_file(tmp_path, "", "empty")),
        "refused the token": connect(layout, forge, token_file(tmp_path, "x" * 40, "wrong")),
        "not found": hive(
            layout, "connect", "--url", forge.url, "--repo", "ops/nope", "--token-file", str(good)
        ),
    }
    for expected, done in cases.items():
        assert done.returncode == 1, (expected, done.stdout)
        assert expected in done.stderr, (expected, done.stderr)
        assert len(done.stderr.strip().splitlines()) <= 2, done.stderr
    assert connection.load(layout) is None and not connection.token_path(layout).exists()


def test_status_shows_the_last_delivery_and_the_last_api_error(layout: StateLayout, tmp_path: Path) -> None:
    store = ForgeStore.open(layout)
    try:
        assert store.first_sight("d-1", "push") is True
        store.delivery_outcome("d-1", "checked")
        assert store.enqueue("status:abc:hive/plan", {"kind": "status", "sha": "abc"}) is True
        store.failed(store.pending()[0], "setting hive/plan on abc: cannot reach Forgejo", 4.0)
    finally:
        store.close()
    shown = json.loads(hive(layout, "status", "--json").stdout)
    assert shown["last_delivery"]["delivery"] == "d-1" and shown["last_delivery"]["outcome"] == "checked"
    assert shown["pending"][0]["attempts"] == 1 and "cannot reach Forgejo" in shown["last_error"]["message"]
    table = hive(layout, "status").stdout
    assert "cannot reach Forgejo" in table and "status:abc:hive/plan" in table


def test_no_sandbox_binds_the_token_or_the_connection(layout: StateLayout) -> None:
    """The manager's sandbox sees the most of the state dir (the meta repo's objects and refs); not these."""
    build = layout.agent_build("manager")
    box = AgentBox(
        name="manager",
        ids=AgentIds(60123, 60123),
        state_dir=layout.agent_state("manager"),
        run_dir=layout.run_dir_for("manager", is_manager=True),
        config_file=build / "agent.json",
        passwd=build / "passwd",
        group=build / "group",
        meta=MetaBind(build / "meta-view", layout.meta),
    )
    root = HostRoot(top=(), etc=(), ro_paths=(), nix=False, setpriv="/usr/bin/setpriv")
    argv = bwrap_argv("/usr/bin/bwrap", root, box, ["true"])
    sources = [Path(argv[i + 1]) for i, a in enumerate(argv) if a in ("--bind", "--ro-bind")]
    for secret in (connection.token_path(layout), connection.connection_path(layout)):
        for source in sources:
            assert not secret.is_relative_to(source), f"{source} would show {secret} to an agent"
