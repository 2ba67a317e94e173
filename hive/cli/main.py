"""`hive`: the operator's command line. Each command group lives in its own module."""

from __future__ import annotations

import logging
import os
import sys

import click
import typer

from hive.cli import (
    agents,
    approvals,
    dashboard,
    desired_cmds,
    doctor,
    egress,
    messaging,
    reconcile,
    serve,
    setup,
    webhook,
)
from hive.cli.common import fail
from hive_kit.errors import EXIT_USER_ERROR, HiveError, kind_of

app = typer.Typer(
    name="hive",
    help="hyperhive: a swarm of Claude Code agents, steered from desired state in a git meta repo.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for module in (
    setup,
    agents,
    desired_cmds,
    approvals,
    serve,
    messaging,
    reconcile,
    webhook,
    dashboard,
    egress,
    doctor,
):
    module.register(app)


def main(argv: list[str] | None = None) -> None:
    """Run `hive`; user errors (ours and click's) exit 1 with a message, never 2."""
    logging.basicConfig(
        level=os.environ.get("HIVE_LOG_LEVEL", "WARNING").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="hive", standalone_mode=False)
    except click.exceptions.UsageError as exc:
        exc.show()
        sys.exit(EXIT_USER_ERROR)
    except click.exceptions.Abort:
        sys.exit(EXIT_USER_ERROR)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except HiveError as exc:
        sys.exit(fail(str(exc), kind_of(exc).exit_code).exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(result if isinstance(result, int) else 0)
