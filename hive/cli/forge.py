"""`hive forge connect | status | disconnect`: Forgejo as a review surface (docs/gitops.md).

`connect` checks the URL, repo and token against Forgejo before storing
anything, so a typo never leaves a half-made connection. The token lives in
a 0600 file in the state dir (``hive_core.forge.connection``), never in
desired state, and is never printed. `status` reads ``forge.sqlite``
directly: it works with or without `hive serve`.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from hive.cli.common import JsonOpt, StateDirOpt, console, layout, no_state_dir, ok, print_json
from hive_kit.errors import HiveError, UserError
from hive_kit.paths import StateLayout

forge_app = typer.Typer(
    help="Forgejo as a review surface: commit statuses and the plan comment (docs/gitops.md).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(forge_app, name="forge")


def _state(state_dir: Path | None) -> StateLayout:
    lay = layout(state_dir)
    if not lay.meta.exists():
        raise no_state_dir(lay)
    return lay


@forge_app.command("connect")
def connect(
    url: Annotated[str, typer.Option("--url", help="Forgejo's base URL, e.g. https://forgejo.example.")],
    repo: Annotated[str, typer.Option("--repo", help="The meta repo in Forgejo, as OWNER/NAME.")],
    token_file: Annotated[
        Path, typer.Option("--token-file", help="A file holding the API token (scopes: docs/gitops.md).")
    ],
    dashboard_url: Annotated[
        str,
        typer.Option(
            "--dashboard-url", help="The dashboard as a reviewer's browser reaches it (status links)."
        ),
    ] = "http://127.0.0.1:7000",
    check: Annotated[
        bool, typer.Option("--check/--no-check", help="Read the repo with the token before storing it.")
    ] = True,
    state_dir: StateDirOpt = None,
) -> None:
    """Store the connection to Forgejo (the token 0600 in the state dir, never in desired state)."""
    from hive_core.forge import connection

    lay = _state(state_dir)
    owner, name = connection.check_repo(repo)
    conn = connection.Connection(
        url=connection.check_url(url),
        owner=owner,
        repo=name,
        dashboard_url=connection.check_url(dashboard_url, "--dashboard-url"),
    )
    token = connection.read_token_file(token_file)
    if check:
        found = asyncio.run(_check(conn, token))
        ok(f"Forgejo answered: {found} is readable with this token")
    connection.save(lay, conn, token)
    ok(f"connected to {conn.url} repo {conn.full_name} (token kept 0600 in {connection.token_path(lay)})")
    ok("next: `hive webhook secret`, and in Forgejo send Push and Pull request events to the hook")


async def _check(conn: Any, token: str) -> str:
    from hive_core.forge.client import ForgeClient

    client = ForgeClient(conn, token)
    try:
        return await client.check()
    except HiveError as exc:
        raise UserError(f"not connected: {exc}") from None
    finally:
        await client.close()


@forge_app.command("status")
def status(state_dir: StateDirOpt = None, as_json: JsonOpt = False) -> None:
    """Show the connection, the last webhook delivery, the outbox and the last API error."""
    from hive_core.forge import claim, connection
    from hive_core.forge.store import ForgeStore, store_path

    lay = _state(state_dir)
    conn = connection.load(lay)
    data: dict[str, Any] = {
        "connected": conn is not None,
        "sender_pid": claim.sender_pid(lay),
        "url": conn.url if conn else None,
        "repo": conn.full_name if conn else None,
        "dashboard_url": conn.dashboard_url if conn else None,
        "token_file": str(connection.token_path(lay)) if conn else None,
        "last_delivery": None,
        "pending": [],
        "last_error": None,
        "calls": [],
    }
    if store_path(lay).exists():
        store = ForgeStore.open(lay)
        try:
            data["last_delivery"] = store.last_delivery()
            data["pending"] = [
                {"key": p.key, "attempts": p.attempts, "due": p.due, "last_error": p.last_error}
                for p in store.pending()
            ]
            err = store.last_error()
            data["last_error"] = err.to_json() if err else None
            data["calls"] = [c.to_json() for c in store.calls(10)]
        finally:
            store.close()
    if as_json:
        print_json(data)
        return
    _print_status(data)


def _when(at: float | None) -> str:
    if not at:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))


def _table(title: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """Cells as plain text: keys like ``status:<sha>:<context>`` must not become emoji or markup."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(Text(str(v)) for v in row))
    console().print(table)


def _sender(data: dict[str, Any]) -> str:
    pid = data["sender_pid"]
    if pid is not None:
        return f"pid {pid or '?'} (`hive serve`)"
    if data["connected"]:
        return "no process: nothing is sent until `hive serve` runs"
    return "-"


def _print_status(data: dict[str, Any]) -> None:
    last, err = data["last_delivery"], data["last_error"]
    rows = [
        ("connection", f"{data['url']} repo {data['repo']}" if data["connected"] else "not connected"),
        ("dashboard links", data["dashboard_url"] or "-"),
        (
            "last delivery",
            f"{_when(last['at'])} {last['event']} {last['delivery']} → {last['outcome'] or '?'}"
            if last
            else "none",
        ),
        ("waiting to send", str(len(data["pending"]))),
        ("sent by", _sender(data)),
        ("last API error", f"{_when(err['at'])} {err['key']}: {err['message']}" if err else "none"),
    ]
    _table("Forgejo", ("", ""), rows)
    if data["pending"]:
        _table(
            "Outbox",
            ("what", "tries", "next try", "last error"),
            [(p["key"], p["attempts"], _when(p["due"]), p["last_error"]) for p in data["pending"]],
        )
    if not data["connected"]:
        ok("connect with `hive forge connect --url URL --repo OWNER/NAME --token-file FILE`")


@forge_app.command("disconnect")
def disconnect(state_dir: StateDirOpt = None) -> None:
    """Forget the connection and the token; drop what was waiting to be sent."""
    from hive_core.forge import connection
    from hive_core.forge.store import ForgeStore, store_path

    lay = _state(state_dir)
    removed = connection.remove(lay)
    dropped = 0
    if store_path(lay).exists():
        store = ForgeStore.open(lay)
        try:
            dropped = store.drop_pending()
        finally:
            store.close()
    if removed:
        ok(f"disconnected from Forgejo; the token file is deleted; {dropped} unsent call(s) dropped")
    else:
        ok("no forge was connected")
