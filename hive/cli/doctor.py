"""`hive doctor [--json]`: one line per check, ✓ or ✗ with the fix; exit 1 if any ✗.

Why: an agent that cannot start says so only in its own log and status, and
a user who has not got as far as an agent has neither. Doctor asks the same
code `hive serve` uses (``hive.cli.doctor_checks`` says which), from this
shell's environment and as this user: run it where, and as whom, `hive
serve` runs. ``–`` marks a check that is not needed here (or cannot be tried
until another passes); it counts as passed.

Exit codes: 0 every check passed, 1 any ✗. ``--json`` prints a list of
``{check, ok, detail, fix}``.
"""

from __future__ import annotations

import errno
import os
import shlex
from typing import Annotated

import typer

from hive.cli import doctor_checks as checks
from hive.cli.common import JsonOpt, StateDirOpt, console, err_console, layout, print_json
from hive.cli.doctor_checks import Check, Machine
from hive.cli.reconcile import CommandOpt, RuntimeOpt
from hive_core.identities import DEFAULT_UIDS, UidRange
from hive_kit import wire
from hive_kit.client import SyncClient
from hive_kit.errors import EXIT_OK, EXIT_USER_ERROR, HiveError
from hive_kit.paths import StateLayout
from reconciler.runtime import procs


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)


def doctor(
    state_dir: StateDirOpt = None,
    runtime: RuntimeOpt = "local",
    agent_command: CommandOpt = None,
    web_host: Annotated[
        str, typer.Option(envvar="HIVE_WEB_HOST", help="The dashboard address hive serve will use.")
    ] = "127.0.0.1",
    web_port: Annotated[
        int,
        typer.Option(
            envvar="HIVE_WEB_PORT", help="The dashboard port hive serve will use.", min=0, max=65535
        ),
    ] = 7000,
    agent_uids: Annotated[
        str, typer.Option(envvar="HIVE_AGENT_UIDS", help="Agents' uids, FIRST-LAST (as hive serve).")
    ] = DEFAULT_UIDS,
    as_json: JsonOpt = False,
) -> int:
    """Check this machine for a swarm: sandbox, claude, credentials, port, state dir, tools, daemon."""
    machine = Machine(
        layout=layout(state_dir),
        runtime=runtime,
        command=tuple(shlex.split(agent_command or "")),
        uid_range=UidRange.parse(agent_uids),
        web_host=web_host,
        web_port=web_port,
        env=dict(os.environ),
    )
    found = run_checks(machine)
    if as_json:
        print_json([c.to_json() for c in found])
    else:
        show(found)
    failed = [c.check for c in found if not c.ok]
    if failed:  # on stderr, like every other failing command: a script sees why it got exit 1
        err_console().print(
            f"error: {len(failed)} check(s) failed: {', '.join(failed)}; each fix is in the report above",
            markup=False,
        )
    return EXIT_OK if not failed else EXIT_USER_ERROR


def run_checks(m: Machine) -> list[Check]:
    m.daemon, m.daemon_error = ask_daemon(m.layout)
    box = checks.sandbox(m)
    claude = checks.claude(m)
    return [
        box,
        claude,
        checks.claude_in_sandbox(m, ready=box.ok and box.needed and claude.ok),
        checks.credentials(m, desired_agents(m)),
        checks.dashboard_port(m),
        checks.state_dir(m),
        checks.tool("git", ["git", "--version"], needed=True, install="install git (apt install git)"),
        checks.tool(
            "nix-instantiate",
            ["nix-instantiate", "--version"],
            needed=m.needs.nix,
            install="install Nix (NixOS has it; Debian: apt install nix-bin)",
        ),
        daemon(m),
        orphans(m),
    ]


def ask_daemon(where: StateLayout) -> tuple[wire.StatusResult | None, str]:
    """The running daemon's ``status``; else why it did not answer ("": nothing listens, no daemon)."""
    try:
        with SyncClient(where.admin_socket, timeout=10) as client:
            answer: wire.StatusResult = client.request(wire.Status())
    except HiveError as exc:
        cause = exc.__cause__
        if isinstance(cause, OSError) and cause.errno in (errno.ENOENT, errno.ECONNREFUSED):
            return None, ""  # nobody listens: no daemon
        return None, str(exc)
    return answer, ""


def desired_agents(m: Machine) -> list[str]:
    if m.daemon is not None:
        return list(m.daemon.agents)
    if not m.layout.meta.is_dir():
        return []
    from desired.repo import MetaRepo

    try:
        return sorted(MetaRepo(m.layout.meta).load().state.agents)
    except HiveError:
        return []


def _daemon_pid(where: StateLayout) -> str:
    try:
        return (where.run / "hive.lock").read_text().strip() or "?"
    except OSError:
        return "?"


def daemon(m: Machine) -> Check:
    name = "daemon"
    root = m.layout.root
    if m.daemon is None:
        if not m.daemon_error:
            return Check(
                name, False, f"no hive serve is running for {root}", f"`hive serve --state-dir {root}`"
            )
        return Check(
            name,
            False,
            f"its admin socket does not answer: {m.daemon_error}",
            "run hive doctor as the user hive serve runs as, or restart hive serve",
        )
    pid = _daemon_pid(m.layout)
    if m.daemon.version != wire.VERSION:
        theirs = m.daemon.version or "an older one (it does not say)"
        return Check(
            name,
            False,
            f"hive serve (pid {pid}) runs version {theirs}; this hive is {wire.VERSION}",
            "restart hive serve so it runs the installed version (its agents keep running and are adopted)",
        )
    return Check(name, True, f"hive serve (pid {pid}) is running, version {wire.VERSION}")


def _kill_line(found: dict[str, int]) -> str:
    groups = []
    for pid in found.values():
        try:
            groups.append(f"-{os.getpgid(pid)}")
        except ProcessLookupError:
            continue
    return f"kill -- {' '.join(groups)}" if groups else "nothing left to kill"


def orphans(m: Machine) -> Check:
    """Agent processes of this state dir (found by their marker) that no running daemon owns."""
    name = "orphans"
    if not m.needs.sandbox:
        return checks.skipped(name, f"not needed: the {m.runtime} runtime lists its own containers")
    live = procs.scan(procs.root_key(m.layout.root))
    seen = "" if os.geteuid() == 0 else f" (as uid {os.geteuid()}: root's sandboxes are not visible)"
    shown = ", ".join(f"{agent} (pid {pid})" for agent, pid in sorted(live.items()))
    if live and m.daemon is None:
        return Check(
            name,
            False,
            f"{len(live)} agent(s) run with no hive serve: {shown}",
            f"`hive serve --state-dir {m.layout.root}` adopts them; or end them: {_kill_line(live)}",
        )
    strays = {agent: pid for agent, pid in live.items() if m.daemon and agent not in m.daemon.agents}
    if strays:
        return Check(
            name,
            False,
            "running, but not in desired state: " + ", ".join(f"{a} (pid {p})" for a, p in strays.items()),
            f"`hive reconcile --now --state-dir {m.layout.root}` removes them; "
            f"or end them: {_kill_line(strays)}",
        )
    if not live:
        return Check(name, True, f"no agent process left behind{seen}")
    return Check(name, True, f"{len(live)} agent process(es), all the running daemon's")


def show(found: list[Check]) -> None:
    """An aligned line per check, and the fix under each ✗."""
    from rich.text import Text

    out = console()
    width = max(len(c.check) for c in found)
    for c in found:
        mark, style = ("–", "dim") if not c.needed else ("✓", "green") if c.ok else ("✗", "bold red")
        out.print(Text.assemble((mark, style), f" {c.check:<{width}}  ", c.detail), soft_wrap=True)
        if not c.ok and c.fix:
            out.print(Text.assemble(" " * (width + 4), ("fix: ", "bold"), c.fix), soft_wrap=True)
    if all(c.ok for c in found):
        out.print(Text("all checks passed", style="bold green"))
