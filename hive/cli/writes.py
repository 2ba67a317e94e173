"""One path for every write the CLI makes: a ChangeSet committed to main, or proposed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from desired import proposals
from desired.changes import apply_changes
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
    repo = open_repo(state_dir)
    who = author(author_text)
    text = message or changes.summary()
    if propose:
        proposal = proposals.propose(
            repo, lambda state: apply_changes(state, changes), author=who, description=text
        )
        if as_json:
            print_json({"proposal": proposal.id, "commit": proposal.commit, "status": "pending"})
        else:
            ok(f"proposal {proposal.id} recorded for approval: {text}  (`hive approve {proposal.id}`)")
        return
    info = repo.commit(lambda state: apply_changes(state, changes), author=who, message=text)
    if as_json:
        print_json({"revision": info.revision if info else None, "changed": info is not None})
    elif info is None:
        ok("no changes: desired state already says that")
    else:
        ok(f"committed {info.revision[:12]} to main: {text}")
