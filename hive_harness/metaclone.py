"""The manager's own working clone of the meta repo, at ``/state/meta``, and bundles of its commits.

The host binds a read-only view of its meta repo at ``/meta.git`` into the
manager's sandbox (``HIVE_META`` overrides it). The harness clones from it on
the manager's first turn and fetches before every turn after, so
``origin/main`` is the swarm's desired state when the model looks. The model
edits, commits, and calls ``propose_commit``: ``bundle`` packs
``origin/main..<ref>`` (git, run here as the agent's own uid, inside its
sandbox) for the host, which never touches this clone (docs/security.md).

Every call is blocking (git subprocesses); async callers use a thread.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

from hive_kit.launch import ENV_META, ENV_STATE, SANDBOX_META, SANDBOX_META_CLONE, SANDBOX_STATE
from hive_kit.wire import MAX_BUNDLE_BYTES

GIT_TIMEOUT = 60.0
PROPOSING = "refs/hive/proposing"
UPSTREAM = "refs/remotes/origin/main"


class CloneError(Exception):
    """A git step failed; the message is for the model (what failed and what to do)."""


def source(env: Mapping[str, str] = os.environ) -> Path:
    return Path(env.get(ENV_META) or SANDBOX_META)


def clone_dir(env: Mapping[str, str] = os.environ) -> Path:
    return Path(env.get(ENV_STATE) or SANDBOX_STATE) / SANDBOX_META_CLONE


def _git(args: list[str], cwd: Path | None = None, *, what: str, safe: Path | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["GIT_TERMINAL_PROMPT"] = "0"
    with tempfile.TemporaryDirectory() as tmp:
        if safe is not None:
            # the view belongs to root; git (before 2.42) takes safe.directory from global config only
            config = Path(tmp) / "gitconfig"
            config.write_text(f"[safe]\n\tdirectory = {safe}\n")
            env["GIT_CONFIG_GLOBAL"] = str(config)
        try:
            done = subprocess.run(
                ["git", *args],
                cwd=cwd,
                capture_output=True,
                text=True,
                env=env,
                timeout=GIT_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise CloneError(f"{what}: cannot run git ({exc})") from exc
    if done.returncode != 0:
        raise CloneError(f"{what}: {done.stderr.strip()[-500:] or f'git exited {done.returncode}'}")
    return done.stdout


def refresh(name: str, env: Mapping[str, str] = os.environ) -> str | None:
    """Clone the meta repo if there is no clone yet, else fetch `main`; a note for the log, or None.

    Local `main` is fast-forwarded when that is possible; work on other branches is left alone.
    """
    src, dest = source(env), clone_dir(env)
    if not (src / "HEAD").exists():
        return f"no meta repo view at {src}: the manager's clone is not kept in sync"
    if not (dest / ".git").exists():
        _git(
            ["clone", "--quiet", "--no-hardlinks", str(src), str(dest)],
            what="cloning the meta repo",
            safe=src,
        )
        _git(["config", "user.name", name], dest, what="configuring the clone")
        _git(["config", "user.email", f"{name}@hyperhive.local"], dest, what="configuring the clone")
        return None
    _git(["fetch", "--quiet", "origin"], dest, what="fetching the meta repo", safe=src)
    try:
        branch = _git(["symbolic-ref", "--short", "HEAD"], dest, what="reading the branch").strip()
        if branch == "main":
            _git(["merge", "--ff-only", "--quiet", UPSTREAM], dest, what="fast-forwarding main")
    except CloneError:
        pass  # local commits or edits on main: the model rebases when it proposes
    return None


def bundle(ref: str, env: Mapping[str, str] = os.environ) -> bytes:
    """A git bundle of ``origin/main..ref`` from the clone, for ``propose_commit``."""
    dest = clone_dir(env)
    if not (dest / ".git").exists():
        raise CloneError(f"no clone at {dest} yet; it is made at the start of your next turn")
    if ref.startswith("-") or not ref.strip():
        raise CloneError(f"{ref!r} is not a ref; pass a branch, a tag, HEAD or a commit id")
    with contextlib.suppress(CloneError):  # propose what the clone has; the host says if main moved
        _git(["fetch", "--quiet", "origin"], dest, what="fetching the meta repo", safe=source(env))
    try:
        sha = _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], dest, what=ref).strip()
    except CloneError as exc:
        raise CloneError(
            f"no commit {ref!r} in {dest} (`git log --oneline -3` and `git branch` there show what there is)"
        ) from exc
    _git(["update-ref", PROPOSING, sha], dest, what="marking the commit")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "commit.bundle"
        try:
            _git(["bundle", "create", "--quiet", str(out), PROPOSING, f"^{UPSTREAM}"], dest, what="bundling")
        except CloneError as exc:
            if "empty bundle" in str(exc):
                raise CloneError(f"{ref} adds nothing on top of origin/main: commit your edit first") from exc
            raise
        data = out.read_bytes()
    if len(data) > MAX_BUNDLE_BYTES:
        raise CloneError(f"the commit's bundle is {len(data)} bytes, over {MAX_BUNDLE_BYTES}; propose less")
    return data
