"""`hive-harness`: runs inside each agent's sandbox (`serve`) and as claude's MCP server (`mcp`);
in a pod, `seed` places the agent's seed files first (the init container).

Environment (set by the runtime driver; defaults are the sandbox paths of
`hive_kit.launch`): HIVE_AGENT_CONFIG, HIVE_SOCKET, HIVE_AGENT_STATE;
HIVE_CLAUDE_BIN optionally names the claude binary; HIVE_PROMPTS_DIR a
directory of system prompts to use instead of the packaged ones. Exit
codes: 0 clean stop, 1 runtime failure, 2 bad configuration.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from hive_kit.errors import UserError
from hive_kit.launch import ENV_CONFIG, ENV_STATE, SANDBOX_CONFIG, SANDBOX_STATE, AgentLaunchConfig
from hive_kit.names import Role

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)


def _launch(role: Role | None) -> AgentLaunchConfig:
    path = Path(os.environ.get(ENV_CONFIG) or SANDBOX_CONFIG)
    try:
        launch = AgentLaunchConfig.read(path)
    except (OSError, ValueError) as exc:
        typer.echo(f"hive-harness: cannot read the launch config {path}: {exc}; set {ENV_CONFIG}", err=True)
        raise typer.Exit(2) from exc
    if role is not None and role.value != launch.role:
        typer.echo(
            f"hive-harness: --role {role.value} but {path} says {launch.name} is {launch.role}; "
            "fix the runtime driver's command line",
            err=True,
        )
        raise typer.Exit(2)
    return launch


@app.command()
def serve(
    role: Annotated[Role, typer.Option(help="agent or manager; must match the launch config")],
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run the turn loop and the agent page until stopped (SIGTERM/SIGINT)."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    launch = _launch(role)
    state = Path(os.environ.get(ENV_STATE) or SANDBOX_STATE)
    from hive_harness.command import HarnessConfigError
    from hive_harness.serve import serve_forever

    try:
        asyncio.run(serve_forever(launch, state, dict(os.environ)))
    except (HarnessConfigError, UserError) as exc:
        typer.echo(f"hive-harness: {exc}", err=True)
        raise typer.Exit(2) from exc
    except KeyboardInterrupt:
        pass


@app.command()
def mcp(
    role: Annotated[Role | None, typer.Option(help="agent or manager; must match the launch config")] = None,
) -> None:
    """The stdio MCP server `hyperhive` (the fallback claude launches per turn; not for people)."""
    from hive_harness.mcp_server import run_stdio

    _launch(role)
    run_stdio()


@app.command("mcp-config")
def mcp_config_cmd() -> None:
    """Print the stdio form of the --mcp-config document (for `claude mcp add-json`, debugging).

    A running harness serves `hyperhive` itself over HTTP; the document its turns use
    (URL and token) is <state>/.hive/mcp-config.json.
    """
    from hive_harness.command import HarnessConfigError, mcp_config, mcp_server_env

    try:
        document = mcp_config(_launch(None), mcp_server_env(os.environ))
    except HarnessConfigError as exc:
        typer.echo(f"hive-harness: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(json.dumps(document, indent=2))


@app.command()
def seed(
    bundle: Annotated[Path, typer.Option(help="the seed ConfigMap's seeds.json, mounted")] = Path(
        "/etc/hyperhive-seed/seeds.json"
    ),
    state: Annotated[Path, typer.Option(help="the agent's /state")] = Path(SANDBOX_STATE),
) -> None:
    """Place the agent's seed files in /state where nothing is (a pod's init container; not for people).

    Once per create: a bundle already placed (its id in /state/.hive-seeded) is skipped."""
    from hive_kit.seeding import place_from_file

    try:
        typer.echo(place_from_file(bundle, state))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        typer.echo(
            f"hive-harness seed: cannot place {bundle} in {state}: {exc!r}; the pod's seed "
            "ConfigMap is the daemon's (re-create the agent), /state must be writable",
            err=True,
        )
        raise typer.Exit(1) from exc


def main() -> None:
    app()
