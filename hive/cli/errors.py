"""How `hive` ends: every error is one or two lines on stderr, never a Python traceback.

The root command is ``HiveGroup``; its ``main`` runs the command with
``standalone_mode=False`` and turns whatever escapes into a message and an
exit code. Because the handling lives on the group, typer's ``CliRunner``
(in-process tests) and the console script go through the same code.

typer 0.29 vendors click as ``typer._click`` and has its own ``Exit`` and
``Abort``, so those are what is caught here, not ``click``'s (a handler for
``click.exceptions.UsageError`` never matched, and every usage error printed a
traceback).

Exit codes (README, "Exit codes"): 0 ok; 1 anything wrong, usage errors
included (click's own 2 would read as "changes pending" to a script running
`hive reconcile --dry-run`); 2 only for pending changes; 130 on Ctrl-C.
Unexpected exceptions (bugs) are one line too, naming ``HIVE_DEBUG=1``, which
re-raises them with the traceback.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import typer
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
from typer.core import TyperGroup

from hive_kit.errors import EXIT_OK, EXIT_USER_ERROR, HiveError, kind_of

log = logging.getLogger(__name__)

DEBUG_ENV = "HIVE_DEBUG"


def say(message: str, hint: str = "") -> None:
    """``error: message`` on stderr (and an indented hint line), markup never interpreted."""
    from rich.console import Console
    from rich.text import Text

    err = Console(stderr=True, highlight=False, soft_wrap=True)
    err.print(Text.assemble(("error: ", "bold red"), message))
    if hint:
        err.print(Text("  " + hint))


def _help_hint(ctx: Any) -> str:
    path = ctx.command_path if ctx is not None else "hive"
    return f"`{path} --help` shows the usage"


def _usage(exc: UsageError) -> int:
    if isinstance(exc, NoArgsIsHelpError):
        typer.echo(exc.format_message())  # `hive`, `hive agent`: a request for help, not a mistake
        return EXIT_OK
    # typer 0.29 validates choices with pydantic, whose text carries its own "Value error, " prefix
    message = exc.format_message().replace("Value error, ", "")
    message = message[:1].lower() + message[1:]
    say(message.rstrip("."), _help_hint(exc.ctx))
    return EXIT_USER_ERROR


def _validation(exc: Any, command: str) -> int:
    """A value the wire models refuse (an over-long name): name the field, not pydantic's dump."""
    first = exc.errors()[0] if exc.errors() else {}
    field = ".".join(str(part) for part in first.get("loc", ())) or "a value"
    say(f"invalid {field}: {first.get('msg', exc)}", f"`{command} --help` describes each argument")
    return EXIT_USER_ERROR


def _os_error(exc: OSError) -> int:
    where = f": {exc.filename}" if exc.filename else ""
    say(
        f"{exc.strerror or exc}{where}",
        "check the path and its permissions (the state dir: --state-dir or $HIVE_STATE_DIR)",
    )
    return EXIT_USER_ERROR


def _bug(exc: BaseException, command: str) -> int:
    log.debug("unexpected error", exc_info=exc)
    say(
        f"unexpected {type(exc).__name__} in `{command}`: {exc}",
        f"this is a bug in hyperhive; rerun with {DEBUG_ENV}=1 for the traceback and report it",
    )
    return EXIT_USER_ERROR


def command_path(group: Any, args: Sequence[str]) -> str:
    """``hive agent set`` for ``["agent", "set", "x", ...]``: the command the arguments name."""
    path, cmd = ["hive"], group
    for arg in args:
        sub = getattr(cmd, "commands", {}).get(arg)
        if sub is None:
            break
        path.append(arg)
        cmd = sub
    return " ".join(path)


def exit_code_for(exc: BaseException, command: str = "hive") -> int:
    """Print what went wrong (if anything) and return the exit code. Re-raises only under HIVE_DEBUG."""
    from pydantic import ValidationError

    if isinstance(exc, typer.Exit):
        return int(exc.exit_code)
    if isinstance(exc, UsageError):
        return _usage(exc)
    if isinstance(exc, ClickException):
        say(exc.format_message())
        return EXIT_USER_ERROR
    if isinstance(exc, typer.Abort):
        say("aborted")
        return EXIT_USER_ERROR
    if isinstance(exc, KeyboardInterrupt):
        return 130
    if isinstance(exc, HiveError):
        say(str(exc))
        return kind_of(exc).exit_code
    if os.environ.get(DEBUG_ENV):
        raise exc
    if isinstance(exc, ValidationError):
        return _validation(exc, command)
    if isinstance(exc, OSError):
        return _os_error(exc)
    return _bug(exc, command)


class HiveGroup(TyperGroup):
    """The root `hive` command: runs without click's standalone handling and exits through
    ``exit_code_for``."""

    def main(  # type: ignore[override]
        self, args: Sequence[str] | None = None, prog_name: str | None = None, **extra: Any
    ) -> NoReturn:
        extra.pop("standalone_mode", None)
        try:
            result = super().main(args=args, prog_name=prog_name or "hive", standalone_mode=False, **extra)
        except (Exception, KeyboardInterrupt) as exc:
            sys.exit(exit_code_for(exc, command_path(self, sys.argv[1:] if args is None else args)))
        sys.exit(result if isinstance(result, int) else EXIT_OK)
