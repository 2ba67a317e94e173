"""`hive dashboard url`: a one-time link that logs a browser into the dashboard.

The daemon mints the link (the admin op ``dashboard_login``, so only whoever
may use the admin socket can): it works once, for five minutes, and opening
it sets a session cookie and lands on the dashboard. The token itself is
never printed.
"""

from __future__ import annotations

import time
from typing import Annotated
from urllib.parse import urlsplit, urlunsplit

import typer

from hive.cli.common import JsonOpt, StateDirOpt, admin, ok, print_json
from hive_kit import wire

dashboard_app = typer.Typer(help="The operator's dashboard: log in from a browser.", no_args_is_help=True)

HostOpt = Annotated[
    str | None,
    typer.Option(
        "--host",
        help="Print the link with this host instead (how your browser reaches the dashboard: "
        "a public name, an SSH tunnel's end). The port stays.",
        show_default=False,
    ),
]


def register(app: typer.Typer) -> None:
    app.add_typer(dashboard_app, name="dashboard")


def with_host(url: str, host: str | None) -> str:
    """``url`` with its host replaced (the port kept), or unchanged."""
    if not host:
        return url
    parts = urlsplit(url)
    netloc = f"{host}:{parts.port}" if parts.port and ":" not in host else host
    return urlunsplit(parts._replace(netloc=netloc))


@dashboard_app.command("url")
def url(state_dir: StateDirOpt = None, host: HostOpt = None, as_json: JsonOpt = False) -> None:
    """Print a link that logs a browser in once (for 5 minutes)."""
    with admin(state_dir, timeout=10) as client:  # a daemon with --no-web answers, and says so
        link: wire.LoginLinkResult = client.request(wire.DashboardLogin())
    shown = with_host(link.url, host)
    if as_json:
        print_json({"url": shown, "expires_at": link.expires_at})
        return
    minutes = max(1, round((link.expires_at - time.time()) / 60))
    ok(shown)
    typer.echo(f"(opens the dashboard once, within {minutes} minutes)", err=True)
