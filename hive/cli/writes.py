"""Every write the CLI makes to desired state goes through ``desired.edit.write``; this prints what it did."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from desired import edit
from hive.cli.common import author, ok, open_repo, print_json
from hive_kit.changes import ChangeSet

ProposeOpt = Annotated[
    bool,
    typer.Option("--propose", help="Record the change as a proposal for approval instead of committing it."),
]
MessageOpt = Annotated[
    str | None,
    typer.Option(
        "--message",
        "-m",
        help="Commit message or proposal description (default: a summary of the change).",
    ),
]


def write(
    state_dir: Path | None,
    changes: ChangeSet,
    *,
    author_text: str | None,
    message: str | None,
    propose: bool,
    as_json: bool = False,
) -> None:
    """Commit or propose ``changes`` and say what happened (``--json``: ``WriteResult.to_json``)."""
    repo, who = open_repo(state_dir), author(author_text)
    result = edit.write(repo, changes, author=who, message=message or "", propose=propose)
    if as_json:
        print_json(result.to_json())
    elif result.proposal is not None:
        pid = result.proposal.id
        ok(f"proposal {pid} recorded for approval: {result.summary}  (`hive approve {pid}`)")
    elif result.revision is None:
        ok("no changes: desired state already says that")
    else:
        ok(f"committed {result.revision[:12]} to main: {result.summary}")
