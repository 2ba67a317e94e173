"""The pre-receive hook: `python -m desired.hook`, run by git for every push.

Reads ``<old> <new> <ref>`` lines on stdin. Pushes to `main` and to
`proposals/*` must leave desired state valid; tags in hyperhive's own
namespaces (proposal/, approved/, denied/, building/, deployed/, failed/)
are written only by hyperhive. Anything refused is explained on stderr,
which git shows the pusher as ``remote:`` lines; exit 1 refuses the whole push.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from desired.repo import MAIN, MetaRepo
from hive_kit.errors import DesiredStateError, HiveError, UserError

ZERO = "0" * 40
PROTECTED_TAGS = ("proposal/", "approved/", "denied/", "building/", "deployed/", "failed/")


def update_problem(repo: MetaRepo, old: str, new: str, ref: str) -> HiveError | None:
    """Why this ref update must be refused, as the error itself (None if it may land).

    The pre-receive hook and the Forgejo webhook's fast-forward both ask
    this, so a commit fetched from Forgejo passes exactly the gate a push does.
    """
    if ref.startswith("refs/tags/") and ref.removeprefix("refs/tags/").startswith(PROTECTED_TAGS):
        return UserError(
            f"{ref}: tags under {', '.join(PROTECTED_TAGS)} are hyperhive's audit trail; "
            "use `hive approve` / `hive deny` instead of pushing them"
        )
    validated = ref == MAIN or ref.startswith("refs/heads/proposals/")
    if not validated:
        return None
    if new == ZERO:
        if ref == MAIN:
            return UserError("refs/heads/main: deleting main is not allowed; it is the swarm's desired state")
        return None
    try:
        repo.load(new)
    except HiveError as exc:
        return exc
    return None


def refusal_lines(ref: str, exc: HiveError) -> list[str]:
    """How a refusal reads to the pusher (git shows these as ``remote:`` lines)."""
    if isinstance(exc, DesiredStateError):
        what = exc.problems[0].file if len(exc.problems) == 1 else "desired state"
        return [f"{ref}: {what} is invalid"] + [f"  {p}" for p in exc.problems]
    text = str(exc)
    return [text if text.startswith(ref) else f"{ref}: {text}"]


def check_update(repo: MetaRepo, old: str, new: str, ref: str) -> list[str]:
    """Why this ref update must be refused (empty if it may land)."""
    exc = update_problem(repo, old, new, ref)
    return [] if exc is None else refusal_lines(ref, exc)


def main() -> int:
    repo = MetaRepo(Path(os.environ.get("GIT_DIR", ".")).resolve())
    refusals: list[str] = []
    for line in sys.stdin:
        parts = line.split()
        if len(parts) == 3:
            refusals.extend(check_update(repo, *parts))
    if refusals:
        print("hyperhive refused this push; nothing was changed:", file=sys.stderr)
        for text in refusals:
            print(text, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
