"""What every `hive` command shares: options, output, the meta repo, the admin socket.

Errors are raised, not printed: ``hive.cli.errors`` turns each into one or
two lines and the kit's exit code (``hive_kit.errors``: 0 ok; 1 an error,
whose message says what to fix; 2 "changes pending", `hive reconcile
--dry-run`).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from desired.repo import Author, MetaRepo
from hive_kit.client import SyncClient
from hive_kit.errors import UnavailableError, UserError
from hive_kit.paths import STATE_DIR_ENV, StateLayout

StateDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        envvar=STATE_DIR_ENV,
        help="hyperhive's state dir (default ./.hive).",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for machines instead of a table.")]
AuthorOpt = Annotated[
    str | None,
    typer.Option(
        "--author",
        envvar="HIVE_AUTHOR",
        help="Who makes this change: 'Name <email>' or a name (default: git's user.name, else 'operator').",
        show_default=False,
    ),
]


def layout(state_dir: Path | None) -> StateLayout:
    return StateLayout.resolve(state_dir)


def open_repo(state_dir: Path | None) -> MetaRepo:
    return MetaRepo(layout(state_dir).meta)


def no_state_dir(lay: StateLayout) -> UserError:
    return UserError(
        f"no hive state dir at {lay.root}: run `hive init` (or pass --state-dir / set {STATE_DIR_ENV})"
    )


def no_daemon(lay: StateLayout) -> UserError:
    """Nothing answers on the admin socket: say whether the state dir or the daemon is missing."""
    if not lay.meta.exists():
        return no_state_dir(lay)
    return UserError(f"no `hive serve` is running on {lay.root}: start it with `hive serve`, then try again")


@contextlib.contextmanager
def admin(state_dir: Path | None, *, timeout: float | None = 30.0) -> Iterator[SyncClient]:
    """A client on the admin socket of the `hive serve` running on this state dir.

    No socket, or one nobody listens on, is the operator's to fix (``no_daemon``);
    any other failure (the daemon answered with an error, a permission) passes as it is.
    """
    lay = layout(state_dir)
    with SyncClient(lay.admin_socket, timeout=timeout) as client:
        try:
            yield client
        except UnavailableError as exc:
            if isinstance(exc.__cause__, FileNotFoundError | ConnectionRefusedError):
                raise no_daemon(lay) from exc
            raise


def _git_identity() -> str | None:
    try:
        name = subprocess.run(
            ["git", "config", "--global", "user.name"], capture_output=True, text=True, check=False
        ).stdout.strip()
        email = subprocess.run(
            ["git", "config", "--global", "user.email"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        return None
    if not name:
        return None
    return f"{name} <{email}>" if email else name


def author(value: str | None) -> Author:
    return Author.parse(value or _git_identity() or "operator")


def console() -> Any:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False, width=None if sys.stdout.isatty() else 160)


def err_console() -> Any:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")


def print_table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    from rich.table import Table

    table = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    console().print(table)


def print_diff(text: str) -> None:
    from rich.text import Text

    out = console()
    for line in text.splitlines():
        style = ""
        if line.startswith(("+++", "---", "diff ", "index ")):
            style = "bold"
        elif line.startswith("+"):
            style = "green"
        elif line.startswith("-"):
            style = "red"
        elif line.startswith("@@"):
            style = "cyan"
        out.print(Text(line, style=style))


def ok(message: str) -> None:
    console().print(message, soft_wrap=True, markup=False)


def editor() -> list[str]:
    import shlex

    return shlex.split(os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi")
