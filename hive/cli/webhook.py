"""`hive webhook secret` and `hive desired remote set|show|unset|pull`: following Forgejo.

The secret authenticates Forgejo's deliveries to `POST /hooks/forgejo`; the
remote is where the webhook (or `pull`) fetches `main` from. Neither lives in
desired state: the secret is a 0600 file in the state dir, the remote is in
the meta repo's own git config.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from desired import remote
from hive.cli.common import JsonOpt, StateDirOpt, layout, no_state_dir, ok, open_repo, print_json
from hive.cli.desired_cmds import desired_app
from hive_kit.errors import UserError

webhook_app = typer.Typer(
    help="Forgejo's push webhook: its secret and where to point it.", no_args_is_help=True
)
remote_app = typer.Typer(
    help="The meta repo's upstream (Forgejo): `main` follows it through the push gate.", no_args_is_help=True
)

WebHostOpt = Annotated[
    str,
    typer.Option(
        "--web-host", envvar="HIVE_WEB_HOST", help="The dashboard's address, as Forgejo reaches it."
    ),
]
WebPortOpt = Annotated[
    int,
    typer.Option(
        "--web-port",
        envvar="HIVE_WEB_PORT",
        help="The dashboard's port (0: shown as PORT).",
        min=0,
        max=65535,
    ),
]


def register(app: typer.Typer) -> None:
    app.add_typer(webhook_app, name="webhook")
    desired_app.add_typer(remote_app, name="remote")


@webhook_app.command("secret")
def secret(
    rotate: Annotated[
        bool, typer.Option("--rotate", help="Replace the secret (update it in Forgejo afterwards).")
    ] = False,
    web_host: WebHostOpt = "127.0.0.1",
    web_port: WebPortOpt = 7000,
    state_dir: StateDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create (or show, or --rotate) the webhook secret, and print what to paste into Forgejo."""
    from hive_web.forgejo import PATH, secret_path, write_secret

    paths = layout(state_dir)
    if not paths.meta.exists():
        raise no_state_dir(paths)  # a secret for a swarm that does not exist yet helps no one
    value, written = write_secret(paths, rotate=rotate)
    url = f"http://{web_host}:{web_port or 'PORT'}{PATH}"
    upstream = _remote_url(state_dir)
    if as_json:
        print_json(
            {
                "secret": value,
                "path": str(secret_path(paths)),
                "written": written,
                "url": url,
                "remote": upstream,
            }
        )
        return
    verb = "rotated" if rotate else ("created" if written else "unchanged")
    ok(f"webhook secret {verb} (kept 0600 in {secret_path(paths)}): {value}")
    if rotate:
        ok("the old secret no longer works: paste the new one into the webhook's settings in Forgejo")
    ok("in Forgejo: the meta repo → Settings → Webhooks → Add webhook → Forgejo, with")
    ok(f"  Target URL: {url}   (as Forgejo reaches this host)")
    ok("  HTTP method: POST   POST content type: application/json")
    ok(f"  Secret: {value}")
    ok("  Trigger on: Push events   Branch filter: main")
    if upstream is None:
        ok("no remote set: a push only triggers a reconcile; `hive desired remote set URL` to follow it")
    else:
        ok(f"main follows remote {remote.REMOTE} = {upstream}")


def _remote_url(state_dir: Any) -> str | None:
    url = remote.remote_url(open_repo(state_dir))
    return remote.redact(url) if url else None


@remote_app.command("set")
def set_(
    url: Annotated[str, typer.Argument(help="The Forgejo repo's clone URL (https, ssh, or a path).")],
    state_dir: StateDirOpt = None,
) -> None:
    """Make `main` follow this repo's main (on each webhook delivery, or `hive desired remote pull`)."""
    remote.set_remote(open_repo(state_dir), url)
    ok(f"remote {remote.REMOTE} = {remote.redact(url)}")
    ok("its main must contain this meta repo's main; if it is new and empty, seed it first:")
    ok(f"  git --git-dir {layout(state_dir).meta} push {remote.REMOTE} main")


@remote_app.command("show")
def show(state_dir: StateDirOpt = None, as_json: JsonOpt = False) -> None:
    """Print the remote `main` follows (passwords and tokens masked)."""
    repo = open_repo(state_dir)
    url = _remote_url(state_dir)
    tracked = repo.head(remote.TRACKING)
    if as_json:
        print_json({"name": remote.REMOTE, "url": url, "fetched": str(tracked) if tracked else None})
        return
    if url is None:
        ok("no remote: `hive desired remote set URL` to follow a Forgejo repo")
        return
    ok(f"remote {remote.REMOTE} = {url}")
    ok(f"last fetched main: {str(tracked)[:12] if tracked else 'never'}")


@remote_app.command("unset")
def unset(state_dir: StateDirOpt = None) -> None:
    """Stop following the remote; webhook deliveries then only trigger a reconcile."""
    removed = remote.unset_remote(open_repo(state_dir))
    ok(f"remote {remote.REMOTE} removed" if removed else "no remote was set")


@remote_app.command("pull")
def pull(state_dir: StateDirOpt = None, as_json: JsonOpt = False) -> None:
    """Fetch the remote's main now and fast-forward `main` to it (validated like a push)."""
    repo = open_repo(state_dir)
    if remote.remote_url(repo) is None:
        raise UserError("no remote is set: `hive desired remote set URL` first")
    fetched = remote.fetch(layout(state_dir).meta)
    forward = remote.fast_forward(repo, fetched, log=f"hive: fast-forward to {remote.REMOTE}/main (pull)")
    if as_json:
        print_json(
            {"fetched": fetched, "before": forward.before, "after": forward.after, "moved": forward.moved}
        )
    elif forward.moved:
        ok(f"main {str(forward.before)[:12]} → {forward.after[:12]} (the reconciler follows)")
    else:
        ok(f"main already at {forward.after[:12]}")
