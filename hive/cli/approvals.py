"""`hive propose|pending|approve|deny|history`: the approval gate and the audit log."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from desired import proposals
from desired.changes import parse_changeset
from desired.proposals import Proposal
from desired.repo import MetaRepo, commit_info
from hive.cli.common import (
    AuthorOpt,
    JsonOpt,
    StateDirOpt,
    author,
    console,
    layout,
    ok,
    open_repo,
    print_diff,
    print_json,
    print_table,
)
from hive.cli.writes import write
from hive_kit.errors import NotFoundError, UserError
from hive_kit.names import ProposalId


def register(app: typer.Typer) -> None:
    for name, fn in (
        ("propose", propose),
        ("pending", pending),
        ("approve", approve),
        ("deny", deny),
        ("history", history),
    ):
        app.command(name)(fn)


def propose(
    file: Annotated[
        Path,
        typer.Option("--file", "-f", help='A change file: {"ops": [...]} (see docs/desired-state.md).'),
    ],
    description: Annotated[str, typer.Option("--description", "-d", help="Why: shown to the approver.")],
    author_text: AuthorOpt = None,
    state_dir: StateDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Propose a change for the operator to approve; main is not touched."""
    open_repo(state_dir)  # no state dir is the first thing to say
    if not file.is_file():
        raise UserError(f"{file} does not exist; pass a change file with --file")
    changes = parse_changeset(file.read_bytes(), str(file))
    write(
        state_dir,
        changes,
        author_text=author_text,
        message=description,
        propose=True,
        as_json=as_json,
    )


def proposal_json(repo: MetaRepo, p: Proposal, with_diff: bool = True) -> dict[str, Any]:
    return proposals.to_json(p, proposals.diff(repo, p) if with_diff else None)


def pending(
    all_: Annotated[bool, typer.Option("--all", help="Include approved and denied proposals.")] = False,
    state_dir: StateDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List proposals awaiting approval, each with its diff."""
    repo = open_repo(state_dir)
    items = proposals.list_all(repo) if all_ else proposals.pending(repo)
    if as_json:
        print_json([proposal_json(repo, p) for p in items])
        return
    if not items:
        ok("no pending proposals" if not all_ else "no proposals yet")
        return
    rows = []
    for p in items:
        res = p.resolution
        rows.append(
            [
                p.id,
                p.status.value,
                p.author.split(" <")[0],
                f"{p.created_at:%Y-%m-%d %H:%M}",
                escape(p.description),  # people's and the manager's text: not rich markup
                escape(f"{res.by}: {res.note}") if res else "",
                p.deploy or "",
            ]
        )
    print_table(
        "proposals",
        ["ID", "STATUS", "AUTHOR", "PROPOSED", "DESCRIPTION", "RESOLUTION", "DEPLOY"],
        rows,
    )
    for p in items:
        if p.status is proposals.ProposalStatus.PENDING:
            # the description is the proposer's text (the manager's too): never read as rich markup
            console().print(f"\n[bold]proposal {p.id}[/] — {escape(p.description)}", markup=True)
            diff = proposals.diff(repo, p)
            for draft in proposals.drafted(diff):
                seeds = ", ".join(f"/state/{f}" for f in draft["seeds"]) or "no seed files"
                console().print(f"draft: new agent {draft['name']}, starts with {seeds}", markup=False)
            print_diff(diff)


def approve(
    pid: Annotated[int, typer.Argument(metavar="ID", help="Proposal id (from `hive pending`).")],
    note: Annotated[str, typer.Option("--note", help="Optional note kept in the approved/<id> tag.")] = "",
    author_text: AuthorOpt = None,
    state_dir: StateDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Merge a proposal into main (refused, changing nothing, if it conflicts)."""
    repo = open_repo(state_dir)
    p = proposals.approve(repo, ProposalId(pid), by=author(author_text), note=note)
    if as_json:
        print_json(proposal_json(repo, p, with_diff=False))
    else:
        landed = p.resolution.commit[:12] if p.resolution else "?"
        ok(f"approved proposal {pid}: main is now {landed} (tag approved/{pid})")


def deny(
    pid: Annotated[int, typer.Argument(metavar="ID", help="Proposal id (from `hive pending`).")],
    note: Annotated[str, typer.Option("--note", help="Why; reaches the proposer.")] = "",
    author_text: AuthorOpt = None,
    state_dir: StateDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Deny a proposal; the note is kept in the denied/<id> tag."""
    repo = open_repo(state_dir)
    p = proposals.deny(repo, ProposalId(pid), by=author(author_text), note=note)
    if as_json:
        print_json(proposal_json(repo, p, with_diff=False))
    else:
        ok(f"denied proposal {pid} (tag denied/{pid})")


def _approval(approved: Mapping[str, tuple[ProposalId, str]], revision: str) -> dict[str, Any] | None:
    found = approved.get(revision)
    return {"proposal": found[0], "by": found[1]} if found else None


def history(
    name: Annotated[str | None, typer.Argument(help="Only changes to this agent.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many commits to look back through.")] = 20,
    state_dir: StateDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Who changed what in desired state, when, with the diff (newest first); with NAME, then the
    reconciler's actions for that agent (restarts, rebuilds, stops, with who asked)."""
    repo = open_repo(state_dir)
    paths = [f"agents/{name}.json", f"agents/{name}/"] if name else None
    approved = proposals.approvals_by_commit(repo)
    entries = []
    for commit in repo.log(limit=limit):
        parent = commit.parent_ids[0] if commit.parent_ids else None
        diff = repo.diff(parent, commit.id, paths)
        if paths is not None and not diff:
            continue
        entries.append((commit_info(commit), diff))
    from reconciler.readonly import action_history

    actions = action_history(layout(state_dir), name) if name else []
    if name and not entries and not actions and name not in repo.load().state.agents:
        raise NotFoundError(
            f"no agent named {name!r} in desired state, and no change to it in the last {limit} commits; "
            "`hive agent list` shows the agents"
        )
    if as_json:
        print_json(
            [
                {
                    "revision": i.revision,
                    "author": i.author,
                    "email": i.email,
                    "when": i.when.timestamp(),
                    "message": i.message,
                    "diff": d,
                    "approved": _approval(approved, i.revision),
                }
                for i, d in entries
            ]
        )
        return
    if not entries:
        ok(f"no changes to {name} in the last {limit} commits" if name else "no history")
    out = console()
    for info, diff in entries:
        out.print(
            f"[bold yellow]{info.revision[:12]}[/] {info.when:%Y-%m-%d %H:%M:%S} "
            f"[bold]{info.author}[/] <{info.email}>",
            markup=True,
        )
        out.print(f"    {info.message.splitlines()[0] if info.message else ''}", markup=False)
        if (gate := _approval(approved, info.revision)) is not None:
            out.print(f"    approved by {gate['by']} (proposal {gate['proposal']})", markup=False)
        print_diff(diff)
        out.print()
    if actions:
        _print_actions(str(name), actions)


def _print_actions(name: str, rows: list[Any]) -> None:
    from datetime import datetime

    from rich.markup import escape

    print_table(
        f"reconciler actions for {name} (newest first)",
        ["WHEN", "ACTION", "WHY", "REVISION", "RESULT"],
        [
            [
                f"{datetime.fromtimestamp(r.started_at):%Y-%m-%d %H:%M:%S}",
                r.action,
                escape(r.reason),
                r.revision[:12],
                escape(r.result + (f": {r.error}" if r.error else "")),
            ]
            for r in rows
        ],
    )
