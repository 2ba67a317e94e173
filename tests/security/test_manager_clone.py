"""The manager's clone, for real: inside a real bubblewrap sandbox, as its own uid, it clones the
read-only view of the meta repo, commits, bundles; the daemon turns the bundle into a proposal.

Real bwrap, setpriv, git and daemon; the harness's own ``metaclone`` runs inside the sandbox (a
script in place of the whole harness, so no model is involved). The probes check what the view
hides: the meta repo's config (a Forgejo remote URL may carry a token), hooks, logs, FETCH_HEAD,
and that nothing in it is writable.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from desired import proposals
from desired.remote import set_remote
from desired.repo import MetaRepo
from hive_core.identities import AgentIds
from hive_kit import wire
from reconciler.runtime import hostview
from reconciler.runtime.metaview import write_meta_view
from reconciler.runtime.ownership import own_state_dir
from reconciler.runtime.sandbox import (
    AgentBox,
    MetaBind,
    bwrap_argv,
    group_text,
    passwd_text,
)
from tests.conftest import REPO_ROOT
from tests.core.conftest import Running, make_swarm, start_daemon

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox needs a root daemon")
TOKEN = "s3cr3t-forge-token"  # a planted value the manager must not see

INSIDE = """
import json, os, pathlib, subprocess
from hive_harness import metaclone

assert metaclone.refresh("boss") is None
clone = pathlib.Path("/state/meta")
spec = json.loads((clone / "agents/coder.json").read_text())
spec["description"] = "edited inside the sandbox"
(clone / "agents/coder.json").write_text(json.dumps(spec, indent=2) + "\\n")
subprocess.run(["git", "-C", str(clone), "commit", "-qam", "from the sandbox"], check=True)
pathlib.Path("/state/out.bundle").write_bytes(metaclone.bundle("HEAD"))
try:
    open("/meta.git/objects/planted", "w").write("x")
    wrote = True
except OSError:
    wrote = False
print(json.dumps({
    "uid": os.getuid(),
    "entries": sorted(os.listdir("/meta.git")),
    "config": open("/meta.git/config").read(),
    "wrote": wrote,
}))
"""


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[Running]:
    running = await start_daemon(make_swarm(tmp_path / "hive"))
    try:
        yield running
    finally:
        await running.close()


@needs_root
async def test_the_manager_clones_commits_and_proposes_from_inside_its_sandbox(
    daemon: Running, tmp_path: Path
) -> None:
    layout = daemon.layout
    repo = MetaRepo(layout.meta)
    set_remote(repo, f"https://hive:{TOKEN}@forge.example/swarm/meta.git")
    (layout.meta / "FETCH_HEAD").write_text(f"abc\t\tbranch 'main' of https://hive:{TOKEN}@forge\n")

    ids = AgentIds(60997, 60997)
    support = hostview.support(ids)
    assert support.ok and support.bwrap and support.setpriv, support.problem
    state = layout.agent_state("boss")
    state.parent.mkdir(parents=True, exist_ok=True)
    own_state_dir(state, ids)
    (state / "home").mkdir(exist_ok=True)
    os.chown(state / "home", ids.uid, ids.gid)
    build = layout.agent_build("boss")
    build.mkdir(parents=True, exist_ok=True)
    (build / "agent.json").write_text("{}")
    (build / "passwd").write_text(passwd_text("boss", ids))
    (build / "group").write_text(group_text("boss", ids))
    script = tmp_path / "inside.py"
    script.write_text(INSIDE)
    script.chmod(0o644)
    tmp_path.chmod(0o755)
    command = [sys.executable, str(script)]
    host, _claude = hostview.scan(command, os.environ, support.setpriv)
    meta = MetaBind(build / "meta-view", layout.meta)
    write_meta_view(meta.view)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    box = AgentBox(
        "boss", ids, state, run_dir, build / "agent.json", build / "passwd", build / "group", meta=meta
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/state/home",
        "HIVE_AGENT_STATE": "/state",
        "PYTHONPATH": str(REPO_ROOT),
    }
    out = subprocess.run(
        bwrap_argv(support.bwrap, host, box, command),
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["uid"] == 60997
    assert seen["entries"] == ["HEAD", "config", "objects", "refs"]
    assert TOKEN not in seen["config"] and "forgejo" not in seen["config"]
    assert seen["wrote"] is False and not (layout.meta / "objects" / "planted").exists()

    bundle = (state / "out.bundle").read_bytes()
    result = await daemon.client("boss").request(
        wire.ProposeCommit(bundle=base64.b64encode(bundle).decode(), description="from the sandbox")
    )
    found = proposals.get(repo, result.proposal_id)
    diff = proposals.diff(repo, found)
    assert '+  "description": "edited inside the sandbox",' in diff
    assert diff.count("\n+ ") + diff.count("\n- ") == 2, diff  # one line out, one line in
