"""`hive desired show|export|import|edit`: the whole swarm at once."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from desired.edit import from_document, rebase_edit, replacement, to_document, write
from desired.files import dump_files, read_dir, write_dir
from hive.cli.common import (
    AuthorOpt,
    JsonOpt,
    StateDirOpt,
    author,
    console,
    editor,
    ok,
    open_repo,
    print_json,
)
from hive.cli.writes import MessageOpt
from hive_kit.errors import DesiredStateError, UserError

desired_app = typer.Typer(help="Show, export, import or edit the whole desired state.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(desired_app, name="desired")


@desired_app.command("show")
def show(
    rev: Annotated[str, typer.Option(help="Revision to show (a commit, tag or branch).")] = "main",
    state_dir: StateDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print desired state as one document."""
    snap = open_repo(state_dir).load(rev)
    doc = {"revision": snap.revision, **to_document(snap.state), "agent_nix": snap.state.agent_nix}
    if as_json:
        print_json(doc)
        return
    from rich.syntax import Syntax

    ok(f"desired state @ {snap.short} ({len(snap.state.agents)} agents)")
    console().print(Syntax(json.dumps(to_document(snap.state), indent=2), "json", theme="ansi_dark"))


@desired_app.command("export")
def export(
    directory: Annotated[Path, typer.Argument(help="Directory to write hive.json and agents/ into.")],
    state_dir: StateDirOpt = None,
) -> None:
    """Write desired state as files (the same layout as the meta repo)."""
    if directory.exists() and any(directory.iterdir()):
        raise UserError(f"{directory} is not empty; export into a new or empty directory")
    snap = open_repo(state_dir).load()
    files = dump_files(snap.state)
    write_dir(directory, files)
    ok(f"exported {len(files)} files from {snap.short} to {directory}")


@desired_app.command("import")
def import_(
    directory: Annotated[Path, typer.Argument(help="Directory holding hive.json and agents/.")],
    message: MessageOpt = None,
    author_text: AuthorOpt = None,
    state_dir: StateDirOpt = None,
) -> None:
    """Replace desired state with a directory's files, in one validated commit."""
    result = write(
        open_repo(state_dir),
        replacement(read_dir(directory)),
        author=author(author_text),
        message=message or f"import desired state from {directory.name}",
    )
    ok(
        "no changes: main already holds exactly that"
        if result.revision is None
        else f"committed {result.revision[:12]} to main"
    )


def _body(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))


def _annotate(text: str, error: str) -> str:
    body = _body(text)
    notes = [
        "// hive desired edit: your last save was refused. Fix it and save, or empty the file to cancel."
    ]
    notes += [f"// {line}" for line in error.splitlines()]
    return "\n".join(notes) + "\n" + body + "\n"


@desired_app.command("edit")
def edit(
    message: MessageOpt = None,
    author_text: AuthorOpt = None,
    state_dir: StateDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Open desired state in $EDITOR; an invalid save re-opens with the error shown at the top."""
    repo = open_repo(state_dir)
    snap = repo.load()
    original = json.dumps(to_document(snap.state), indent=2, ensure_ascii=False) + "\n"
    with tempfile.TemporaryDirectory(prefix="hive-edit-") as tmp:
        path = Path(tmp) / "desired-state.json"
        path.write_text(original)
        shown = original
        while True:
            result = subprocess.run([*editor(), str(path)], check=False)
            if result.returncode != 0:
                raise UserError(f"the editor exited with status {result.returncode}; no changes made")
            text = path.read_text()
            stripped = _body(text)
            if not stripped.strip() or stripped.strip() == original.strip():
                ok("edit cancelled: no changes made")
                return
            if shown != original and stripped.strip() == _body(shown).strip():
                raise UserError("edit cancelled: saved unchanged after the error; no changes made")
            try:
                edited = from_document(text, snap.state)
                break
            except DesiredStateError as exc:
                shown = _annotate(text, str(exc))
                path.write_text(shown)
    written = write(
        repo,
        rebase_edit(snap.state, edited),
        author=author(author_text),
        message=message or "edit desired state",
    )
    if as_json:
        print_json(written.to_json())
    else:
        ok("no changes" if written.revision is None else f"committed {written.revision[:12]} to main")
