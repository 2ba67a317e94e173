"""An upstream for the meta repo (the operator's Forgejo), and fast-forwarding `main` to it.

When the operator reviews desired state in Forgejo, Forgejo's `main` is where
changes land first; the local meta repo follows it. The remote is recorded in
the meta repo's own git config (remote ``forgejo``), not in desired state: it
is about where desired state comes from, and a URL may carry a token.

Following it never bypasses the gate a `git push` goes through: ``fast_forward``
moves local `main` only forward (the fetched commit must contain `main`), only
to a commit the pre-receive hook's own check accepts (``desired.hook``), and
only by compare-and-swap on git's ref lock, so a concurrent CLI write is never
lost. The fetch itself is the `git` program (``fetch``): it uses the daemon
user's ssh keys and credential helpers, which libgit2 would not.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pygit2

from desired.hook import refusal_lines, update_problem
from desired.repo import MAIN, MetaRepo
from hive_kit.errors import ConflictError, DesiredStateError, NotFoundError, TemporaryError, UserError

REMOTE = "forgejo"
TRACKING = f"refs/remotes/{REMOTE}/main"
REFSPEC = f"+refs/heads/main:{TRACKING}"
FETCH_TIMEOUT = 60.0
_CAS_TRIES = 5


@dataclass(frozen=True)
class Forward:
    """What ``fast_forward`` did: ``before`` → ``after``; ``moved`` False when already there."""

    before: str | None
    after: str
    moved: bool


class RefusedUpdate(UserError):
    """The fetched commit may not become `main`; ``lines`` read like a refused push."""

    def __init__(self, message: str, lines: list[str], problems: DesiredStateError | None = None) -> None:
        super().__init__(message)
        self.lines = lines
        self.problems = problems


class NotFastForward(RefusedUpdate, ConflictError):
    """The fetched commit does not contain local `main` (a force-push, or diverged histories)."""


def remote_url(repo: MetaRepo) -> str | None:
    try:
        url = repo.git.remotes[REMOTE].url
    except (KeyError, ValueError):
        return None
    return url or None


def set_remote(repo: MetaRepo, url: str) -> None:
    """Point remote ``forgejo`` at ``url``, fetching only `main` into ``TRACKING``."""
    url = url.strip()
    if not url or any(c in url for c in "\n\r\0"):
        raise UserError("the remote URL is empty or has a line break; pass the repo's clone URL")
    if remote_url(repo) is None:
        repo.git.remotes.create(REMOTE, url, REFSPEC)
    else:
        repo.git.remotes.set_url(REMOTE, url)


def unset_remote(repo: MetaRepo) -> bool:
    """Forget the remote (and its tracking ref); False if there was none."""
    if remote_url(repo) is None:
        return False
    repo.git.remotes.delete(REMOTE)
    return True


def redact(url: str) -> str:
    """The URL without a password or token, for logs and answers."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def fetch(meta: Path, timeout: float = FETCH_TIMEOUT) -> str:
    """Fetch the remote's `main` into ``TRACKING`` with `git`; the fetched commit id.

    Never prompts (a webhook has nobody to ask). Run one at a time per meta repo.
    """
    try:
        return fetch_ref(meta, "refs/heads/main", TRACKING, timeout)
    except NotFoundError:
        raise NotFoundError(
            f"remote {REMOTE!r} has no branch main; push the meta repo's main there first"
        ) from None


def fetch_ref(meta: Path, source: str, dest: str, timeout: float = FETCH_TIMEOUT) -> str:
    """Fetch the remote's ``source`` ref into local ``dest`` (force); the fetched commit id.

    The Forgejo checks use it for branches (``refs/forge/heads/...``) and pull
    requests (``refs/pull/N/head`` → ``refs/forge/pull/N``). Both refs must be
    valid ref names (``UserError`` otherwise): they come from webhook payloads.
    """
    for ref in (source, dest):
        if not ref.startswith("refs/") or not pygit2.reference_is_valid_name(ref):
            raise UserError(f"{ref!r} is not a valid git ref name; nothing was fetched")
    env = git_env()
    argv = ["git", "--git-dir", str(meta), "fetch", "--quiet", "--no-tags", REMOTE, f"+{source}:{dest}"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise TemporaryError(f"fetching {REMOTE} into {meta} took over {timeout:.0f}s; try again") from exc
    except OSError as exc:
        raise TemporaryError(f"cannot run git to fetch {REMOTE}: {exc}") from exc
    if done.returncode != 0:
        why = redact_text(done.stderr.strip() or f"git exited {done.returncode}")
        if "couldn't find remote ref" in why:
            raise NotFoundError(f"remote {REMOTE!r} has no {source}")
        raise TemporaryError(
            f"fetching {source} from remote {REMOTE!r} failed: {why} "
            "(check the URL with `hive desired remote show` and that this host can read it)"
        )
    oid = MetaRepo(meta).head(dest)
    if oid is None:
        raise NotFoundError(f"remote {REMOTE!r} has no {source}")
    return str(oid)


def git_env() -> dict[str, str]:
    """The environment for a git call to the remote: none of the caller's ``GIT_*``, never a prompt."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["GIT_TERMINAL_PROMPT"] = "0"
    return env


def redact_text(text: str) -> str:
    return " ".join(redact(word) if "://" in word else word for word in text.split())


def fast_forward(repo: MetaRepo, new: str, *, log: str) -> Forward:
    """Move `main` to ``new`` if a push of it would be accepted and it is a fast-forward.

    Raises ``NotFastForward`` or ``RefusedUpdate`` (with the hook's own lines);
    either way `main` is unchanged.
    """
    try:
        target = repo.resolve(new).id
    except NotFoundError as exc:
        raise UserError(f"commit {new} is not in the meta repo; fetch it first") from exc
    for _ in range(_CAS_TRIES):
        base = repo.head(MAIN)
        if base == target:
            return Forward(str(base), str(target), moved=False)
        if base is not None and not repo.git.descendant_of(target, base):
            raise _not_fast_forward(repo, str(base), str(target))
        why = update_problem(repo, str(base) if base else "0" * 40, str(target), MAIN)
        if why is not None:
            lines = refusal_lines(MAIN, why)
            problems = why if isinstance(why, DesiredStateError) else None
            text = "\n".join([f"{new[:12]} refused; main unchanged: {lines[0]}", *lines[1:]])
            raise RefusedUpdate(text, lines, problems)
        if repo.compare_and_swap(MAIN, base, target, log):
            return Forward(str(base) if base else None, str(target), moved=True)
        time.sleep(0.01)  # another writer moved main meanwhile: judge the new main again
    raise TemporaryError("main kept moving while fast-forwarding to the remote; retry")


def _not_fast_forward(repo: MetaRepo, base: str, target: str) -> NotFastForward:
    ahead = _count(repo, base, target)
    line = (
        f"{MAIN}: {target[:12]} is not a fast-forward of main {base[:12]} "
        f"(main has {ahead} commit(s) the remote lacks)"
    )
    fix = (
        "push the local meta repo's main to the remote (`git --git-dir <state>/meta.git push forgejo main`) "
        "or make the remote's main contain it; force-pushes never reach main"
    )
    return NotFastForward(f"{target[:12]} refused; main unchanged: {line}; fix: {fix}", [line, f"  {fix}"])


def _count(repo: MetaRepo, base: str, target: str) -> int:
    try:
        ahead, _behind = repo.git.ahead_behind(pygit2.Oid(hex=base), pygit2.Oid(hex=target))
    except (pygit2.GitError, ValueError):
        return 0
    return int(ahead)


__all__ = [
    "REMOTE",
    "TRACKING",
    "Forward",
    "NotFastForward",
    "RefusedUpdate",
    "fast_forward",
    "fetch",
    "fetch_ref",
    "redact",
    "remote_url",
    "set_remote",
    "unset_remote",
]
