"""`hive`: the operator's command line. Each command group lives in its own module."""

from __future__ import annotations

import logging
import os

import typer

from hive.cli import (
    agents,
    approvals,
    costs,
    dashboard,
    desired_cmds,
    doctor,
    egress,
    forge,
    kube,
    lifecycle,
    messaging,
    reconcile,
    serve,
    setup,
    webhook,
)
from hive.cli.errors import HiveGroup

app = typer.Typer(
    name="hive",
    help="hyperhive: a swarm of Claude Code agents, steered from desired state in a git meta repo.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=HiveGroup,  # every error ends as one or two lines and an exit code: hive/cli/errors.py
)

for module in (
    setup,
    agents,
    desired_cmds,
    approvals,
    serve,
    messaging,
    reconcile,
    lifecycle,
    webhook,
    dashboard,
    egress,
    costs,
    doctor,
    forge,
    kube,
):
    module.register(app)


def main(argv: list[str] | None = None) -> None:
    """Run `hive` (exits; see ``hive.cli.errors`` for how errors end)."""
    logging.basicConfig(
        level=os.environ.get("HIVE_LOG_LEVEL", "WARNING").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    typer.main.get_command(app).main(args=argv, prog_name="hive")
