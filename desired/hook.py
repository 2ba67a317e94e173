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

from desired.errors import DesiredStateError, HiveError
from desired.repo import MAIN, MetaRepo

ZERO = "0" * 40
PROTECTED_TAGS = ("proposal/", "approved/", "denied/", "building/", "deployed/", "failed/")


def check_update(repo: MetaRepo, old: str, new: str, ref: str) -> list[str]:
    """Why this ref update must be refused (empty if it may land)."""
    if ref.startswith("refs/tags/") and ref.removeprefix("refs/tags/").startswith(PROTECTED_TAGS):
        return [
            f"{ref}: tags under {', '.join(PROTECTED_TAGS)} are hyperhive's audit trail; "
            "use `hive approve` / `hive deny` instead of pushing them"
        ]
    validated = ref == MAIN or ref.startswith("refs/heads/proposals/")
    if not validated:
        return []
    if new == ZERO:
        if ref == MAIN:
            return ["refs/heads/main: deleting main is not allowed; it is the swarm's desired state"]
        return []
    try:
        repo.load(new)
    except DesiredStateError as exc:
        return [
            f"{ref}: {exc.problems[0].file if len(exc.problems) == 1 else 'desired state'} is invalid"
        ] + [f"  {p}" for p in exc.problems]
    except HiveError as exc:
        return [f"{ref}: {exc}"]
    return []


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
