"""Pushing to the forge's repo with `git`: a proposal's branch, and main after an approval here.

The same remote the webhook fetches from (``desired.remote.REMOTE``), so the
host needs write access to it (an ssh deploy key with write, or a credential
helper; docs/gitops.md). Never forced: a push Forgejo would have to rewind
is refused, and the refusal says what to do. Runs in the sender's task only.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from desired.remote import REMOTE, git_env, redact_text
from hive_kit.errors import PermanentError, TemporaryError

PUSH_TIMEOUT = 60.0


class PushRejected(PermanentError):
    """Forgejo's ref has commits the pushed one lacks: hyperhive and Forgejo diverged."""


def push(meta: Path, sha: str, ref: str, *, force: bool = False, timeout: float = PUSH_TIMEOUT) -> None:
    """Make the forge's ``ref`` point at ``sha`` (a commit in the meta repo)."""
    env = git_env()
    spec = f"{'+' if force else ''}{sha}:{ref}"
    argv = ["git", "--git-dir", str(meta), "push", "--quiet", "--porcelain", REMOTE, spec]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise TemporaryError(f"pushing {ref} to {REMOTE} took over {timeout:.0f}s; will retry") from exc
    except OSError as exc:
        raise TemporaryError(f"cannot run git to push to {REMOTE}: {exc}") from exc
    if done.returncode == 0:
        return
    why = redact_text((done.stderr.strip() + " " + done.stdout.strip()).strip() or f"exit {done.returncode}")
    if "rejected" in why or "non-fast-forward" in why or "fetch first" in why:
        raise PushRejected(
            f"pushing {sha[:12]} to {ref} was refused: the forge's {ref} has commits hyperhive lacks "
            f"({why[:200]}); let the webhook bring them in (or merge them locally), then it is retried"
        )
    raise TemporaryError(
        f"pushing {ref} to {REMOTE} failed: {why[:300]} "
        "(the host needs write access to the remote: `hive desired remote show`)"
    )
