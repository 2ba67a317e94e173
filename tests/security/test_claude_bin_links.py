"""`HIVE_CLAUDE_BIN` set to a symlink: the agent's claude still runs inside its sandbox.

Both ways claude is usually installed end in a link: npm's
``node_modules/.bin/claude`` (relative, into the package) and the native
installer's ``~/.local/bin/claude`` (absolute, into ``~/.local/share``, under a
home only root can enter). The sandbox binds the link's *real* file; binding
the link's own directory would leave a dangling link inside.

Real: bubblewrap, setpriv, the claude CLI from node_modules (hard-linked into
each layout, so the file found is the one the link leads to and no other), run
with ``--version`` through the local runtime's own sandbox argv
(``LocalRuntime.try_claude``, what `hive doctor` runs).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from hive_kit.paths import StateLayout
from reconciler.runtime import hostview
from reconciler.runtime.local import LocalRuntime
from tests.reconciler.conftest import AGENT_COMMAND, REPO_ROOT

CLAUDE = (REPO_ROOT / "node_modules" / ".bin" / "claude").resolve()

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.geteuid() != 0 or not shutil.which("bwrap"), reason="needs root and bwrap to build a sandbox"
    ),
    pytest.mark.skipif(not CLAUDE.exists(), reason="run `npm install` at the repo root for the claude CLI"),
]


Install = Callable[[Path], tuple[Path, Path]]


def _place(target: Path) -> Path:
    """The real claude binary at ``target`` (a hard link: a distinct path, no 240 MB copy)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(CLAUDE, target)
    except OSError:  # another file system
        shutil.copy2(CLAUDE, target)
    return target


def npm_style(root: Path) -> tuple[Path, Path]:
    real = _place(root / "proj" / "node_modules" / "@anthropic-ai" / "claude-code" / "bin" / "claude.exe")
    link = root / "proj" / "node_modules" / ".bin" / "claude"
    link.parent.mkdir(parents=True)
    link.symlink_to("../@anthropic-ai/claude-code/bin/claude.exe")
    return link, real


def native_style(root: Path) -> tuple[Path, Path]:
    home = root / "home"
    real = _place(home / ".local" / "share" / "claude" / "versions" / "2.1.0")
    link = home / ".local" / "bin" / "claude"
    link.parent.mkdir(parents=True)
    link.symlink_to(real)
    home.chmod(0o700)  # like /root: no agent uid may pass on the host
    return link, real


@pytest.mark.parametrize("install", [npm_style, native_style], ids=["npm-bin-link", "local-bin-link"])
def test_a_linked_claude_runs_inside_the_sandbox(install: Install, tmp_path: Path) -> None:
    root = REPO_ROOT / "test-artifacts" / f"claude-link-{tmp_path.name}"
    try:
        link, real = install(root)
        env = {**os.environ, "HIVE_CLAUDE_BIN": str(link)}
        assert hostview.claude_binary(env) == real, "the link is resolved to its real file"
        runtime = LocalRuntime(StateLayout(root / "state"), AGENT_COMMAND, env=env)
        assert runtime.refusal is None, runtime.refusal
        done = runtime.try_claude(root / "scratch")
        assert done.returncode == 0, done.stderr
        assert "Claude Code" in done.stdout
    finally:
        shutil.rmtree(root, ignore_errors=True)
