"""`hive reconcile`, `hive status`, `hive suspend|resume|purge|logs`: the reconciler's face.

Exit codes of `hive reconcile --dry-run` follow Terraform's
`-detailed-exitcode`: 0 no changes, 2 changes pending, 1 error (including a
refused plan). `hive reconcile` applies one pass here and exits 1 if any
action failed; when `hive serve` is running it asks the daemon for the pass
instead (one reconciler per state dir). `--now` asks a running `hive serve`
for an immediate pass. Both ask the one way there is: the admin socket's
``reconcile_now`` op, the same the dashboard's button sends.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from hive.cli.common import (
    AuthorOpt,
    JsonOpt,
    StateDirOpt,
    console,
    err_console,
    layout,
    no_state_dir,
    print_json,
    print_table,
)
from hive.cli.writes import MessageOpt, write
from hive_kit import wire
from hive_kit.changes import ChangeSet, SetAgentField
from hive_kit.client import SyncClient
from hive_kit.errors import (
    EXIT_CHANGES,
    EXIT_OK,
    EXIT_USER_ERROR,
    HiveError,
    NotFoundError,
    UnavailableError,
    UserError,
)
from hive_kit.paths import StateLayout
from reconciler.runtime.registry import RUNTIMES, check_runtime

RuntimeOpt = Annotated[
    str,
    typer.Option(
        "--runtime",
        envvar="HIVE_RUNTIME",
        callback=check_runtime,  # a UserError: `error: unknown runtime ...`, exit 1
        help=f"Container runtime: {' or '.join(RUNTIMES)}.",
    ),
]
CommandOpt = Annotated[
    str | None,
    typer.Option(
        "--agent-command",
        envvar="HIVE_AGENT_COMMAND",
        help=(
            "The agent program for the local runtime; {role} and {name} are filled in "
            "(default: python -m hive_harness serve --role {role})."
        ),
        show_default=False,
    ),
]


def register(app: typer.Typer) -> None:
    app.command("reconcile")(reconcile)
    app.command("status")(status)
    app.command("suspend")(suspend)
    app.command("resume")(resume)
    app.command("purge")(purge)
    app.command("logs")(logs)


def runtime_for(state_dir: Path | None, runtime: str, command: str | None) -> Any:
    from reconciler.runtime.registry import RuntimeOptions, make_runtime

    options = RuntimeOptions(runtime, tuple(shlex.split(command or "")))
    return make_runtime(layout(state_dir), options)


def reconcile(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan; change nothing.")] = False,
    now: Annotated[bool, typer.Option("--now", help="Ask the running daemon for a pass right now.")] = False,
    state_dir: StateDirOpt = None,
    runtime: RuntimeOpt = "local",
    agent_command: CommandOpt = None,
    health_timeout: Annotated[
        float,
        typer.Option(
            "--health-timeout",
            min=0.1,
            help="Seconds a started agent has to say hello on its socket before it counts as failed.",
        ),
    ] = 30.0,
    as_json: JsonOpt = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="With --dry-run: save the plan to FILE for `--plan FILE`.", dir_okay=False
        ),
    ] = None,
    plan_file: Annotated[
        Path | None,
        typer.Option("--plan", help="Apply exactly the plan saved in FILE, or refuse it if it is stale."),
    ] = None,
) -> int:
    """Converge the swarm on desired state (one pass), or show the plan with --dry-run."""
    lay = layout(state_dir)
    if out is not None and not dry_run:
        raise UserError("--out saves a plan: use it with --dry-run (`hive reconcile --dry-run --out FILE`)")
    if plan_file is not None and (dry_run or now):
        raise UserError("--plan applies a saved plan: use it without --dry-run and --now")
    if plan_file is not None:
        return _apply_saved(
            lay, plan_file, runtime_for(state_dir, runtime, agent_command), as_json, health_timeout
        )
    if now:
        return _now(lay, as_json, "operator asked (`hive reconcile --now`)")
    rt = runtime_for(state_dir, runtime, agent_command)
    if dry_run:
        from reconciler.readonly import dry_run as plan_now

        result = asyncio.run(plan_now(lay, rt)) if out is None else _save_plan(lay, rt, out)
        _show_plan(result, as_json)
        if out is not None and not as_json:
            err_console().print(
                f"Saved the plan to {out}; apply exactly it with `hive reconcile --plan {out}`."
            )
        if result.refused:
            return EXIT_USER_ERROR
        return EXIT_OK if result.empty else EXIT_CHANGES
    from reconciler.service import daemon_pid

    pid = daemon_pid(lay)
    if pid is not None:  # one reconciler per state dir: ask the running one
        return _now(lay, as_json, "operator asked (`hive reconcile` while `hive serve` runs)", pid)
    return _apply(lay, rt, (), as_json, health_timeout)


def _save_plan(lay: StateLayout, rt: Any, out: Path) -> Any:
    from reconciler.plan import plan
    from reconciler.readonly import world
    from reconciler.saved import save

    w = asyncio.run(world(lay, rt))
    result = plan(w.snap.state, w.snap.revision, w.observed, w.applied)
    save(out, w, result)
    return result


def _apply_saved(lay: StateLayout, path: Path, rt: Any, as_json: bool, health_timeout: float) -> int:
    """Terraform's `apply PLANFILE`: the same revision and the same observed swarm, or refused."""
    from reconciler.readonly import world
    from reconciler.saved import load, stale_reasons

    saved = load(path)
    if not lay.meta.exists():
        raise no_state_dir(lay)
    reasons = stale_reasons(saved, asyncio.run(world(lay, rt)))
    if reasons:
        raise UserError(
            f"saved plan {saved.plan_id} is stale: "
            + "; ".join(reasons)
            + f"; make a new one with `hive reconcile --dry-run --out {path}`"
        )
    from reconciler.service import daemon_pid

    pid = daemon_pid(lay)
    if pid is not None:
        return _now(lay, as_json, f"operator applied saved plan {saved.plan_id}", pid)
    return _apply(lay, rt, (), as_json, health_timeout)


_ANSI = {"green": "32", "yellow": "33", "magenta": "35", "red": "31", "bold": "1", "bold red": "1;31"}


def _show_plan(result: Any, as_json: bool) -> None:
    """Plain lines (coloured on a terminal): a 1,000-agent plan prints in milliseconds."""
    from reconciler.render import render_plan, style_of

    if as_json:
        print_json(result.to_json())
        return
    colour = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    out = []
    for line in render_plan(result):
        code = _ANSI.get(style_of(line)) if colour else None
        out.append(f"\x1b[{code}m{line}\x1b[0m" if code else line)
    sys.stdout.write("\n".join(out) + "\n")


def _apply(lay: Any, rt: Any, purge: tuple[str, ...], as_json: bool, health_timeout: float = 30.0) -> int:
    from reconciler.loop import LoopSettings, Reconciler
    from reconciler.oneshot import OneShotHost

    async def go() -> tuple[Any, list[Any]]:
        host = OneShotHost(lay)  # no daemon: hear the harnesses' hello ourselves
        settings = LoopSettings(health_timeout=health_timeout)
        rec = Reconciler(lay, rt, health=host, sockets=host, settings=settings)
        if not as_json:
            rec.progress = lambda line: console().print(line, markup=False, highlight=False)
        try:
            result = await rec.apply_once(purge)
            return result, [h for a in result.actions for h in rec.store.history(a.name)[:1]]
        finally:
            rec.store.close()
            await host.close()

    result, outcomes = asyncio.run(go())
    failures = [h for h in outcomes if h.result != "ok"]
    if as_json:
        print_json({"plan": result.to_json(), "results": [h.to_json() for h in outcomes]})
    elif result.refused:
        _show_plan(result, False)
    elif result.empty:
        console().print("No changes. The swarm matches desired state.")
    else:
        done = len(outcomes) - len(failures)
        console().print(f"Apply complete: {done} succeeded, {len(failures)} failed.")
    return EXIT_USER_ERROR if result.refused or failures else EXIT_OK


NO_DAEMON = (
    "no `hive serve` is running for this state dir, so there is no reconciler to ask; "
    "start it with `hive serve`, or run `hive reconcile` (without --now) to apply one pass here"
)


def _now(lay: StateLayout, as_json: bool, reason: str, pid: int | None = None) -> int:
    """Ask the daemon's reconciler for a pass now (every backoff forgiven) over the admin socket."""
    try:
        with SyncClient(lay.admin_socket, timeout=10) as client:
            done: wire.Done = client.request(wire.ReconcileNow(reason=reason))
    except UnavailableError as exc:
        if not isinstance(exc.__cause__, OSError):
            raise  # the daemon answered: e.g. it runs with --no-reconcile, and says so
        if pid is None and not lay.meta.exists():
            raise no_state_dir(lay) from exc
        if pid is None:  # nothing answered on the socket: no daemon at all
            raise UserError(NO_DAEMON) from exc
        raise UserError(  # `python -m reconciler.service` has no admin socket
            f"the reconciler running here (pid {pid}) is not `hive serve` and takes no requests; "
            "it acts on every commit by itself (or stop it and run `hive reconcile` again)"
        ) from exc
    if as_json:
        print_json({"requested": True, "note": done.note})
    else:
        console().print(
            f"asked the running daemon for a pass now ({done.note}); `hive status` shows progress"
        )
    return EXIT_OK


def status(
    state_dir: StateDirOpt = None,
    runtime: RuntimeOpt = "local",
    agent_command: CommandOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Per agent: conditions Ready / Reconciling / Stalled, revisions, runtime state, errors, retries."""
    from reconciler.readonly import live_statuses

    where = layout(state_dir)
    rt = runtime_for(state_dir, runtime, agent_command)
    rows = asyncio.run(live_statuses(where, rt))
    paused = _budget_paused(where)
    note = _runtime_note(rt)
    if as_json:
        agents = [{**s.to_json(), "paused": paused.get(s.name)} for s in rows]
        print_json({"agents": agents, **({"note": note} if note else {})})
        return
    columns = ["NAME", "READY", "RECONCILING", "STALLED", "DESIRED", "APPLIED", "RUNTIME", "MESSAGE"]
    print_table("agents", [*columns, "LAST ERROR", "NEXT RETRY"], [_status_row(s, paused) for s in rows])
    if note:
        console().print(f"note: {note}", markup=False)


def _runtime_note(rt: Any) -> str:
    """What the runtime says about the host as a whole: hive.json's namespace moved under `hive serve`."""
    watch = getattr(rt, "namespace_watch", None)  # the kubernetes runtime's (kubernetes_namespace)
    return str(watch.note()) if watch is not None else ""


def _budget_paused(where: StateLayout) -> dict[str, str]:
    """Agents the host grants no turn now for their budget (hive_core.stores.budget_holds)."""
    from desired.repo import MAIN, MetaRepo
    from hive_core.stores.budget_holds import paused_on_disk

    try:
        repo = MetaRepo(where.meta)
        head = repo.head(MAIN)
        state = repo.load(str(head)).state if head is not None else None
    except HiveError:  # the statuses above already said what is wrong with the meta repo
        return {}
    return paused_on_disk(where, state, time.time()) if state is not None else {}


def _status_row(s: Any, paused: dict[str, str]) -> list[str]:
    cells = []
    for kind in ("Ready", "Reconciling", "Stalled"):
        c = s.condition(kind)
        cells.append(f"{'True' if c.status else 'False'} ({c.reason})")
    retry = time.strftime("%H:%M:%S", time.localtime(s.next_retry)) if s.next_retry else ""
    applied = (s.applied_revision or "-")[:12]
    message = s.condition("Ready").message
    return [
        s.name,
        *cells,
        s.desired_revision[:12],
        applied,
        f"{s.runtime_state} · paused: budget" if s.name in paused else s.runtime_state,
        message,
        s.last_error or "",
        retry,
    ]


def _set_suspended(
    name: str, value: bool, state_dir: Path | None, author: str | None, message: str | None
) -> None:
    op = SetAgentField(name=name, field="suspended", value=value)
    text = message or f"{'suspend' if value else 'resume'} {name}"
    write(state_dir, ChangeSet(ops=[op]), author_text=author, message=text, propose=False)


def suspend(
    name: Annotated[str, typer.Argument(help="The agent to leave alone.")],
    message: MessageOpt = None,
    author: AuthorOpt = None,
    state_dir: StateDirOpt = None,
) -> None:
    """Suspend an agent: the reconciler leaves it exactly as it is (commits `suspended: true`)."""
    _set_suspended(name, True, state_dir, author, message)


def resume(
    name: Annotated[str, typer.Argument(help="The agent to reconcile again.")],
    message: MessageOpt = None,
    author: AuthorOpt = None,
    state_dir: StateDirOpt = None,
) -> None:
    """Resume a suspended agent (commits `suspended: false`)."""
    _set_suspended(name, False, state_dir, author, message)


def purge(
    name: Annotated[str, typer.Argument(help="A removed agent whose kept state dir should go.")],
    state_dir: StateDirOpt = None,
    runtime: RuntimeOpt = "local",
    agent_command: CommandOpt = None,
    as_json: JsonOpt = False,
) -> int:
    """Remove a removed agent's container (if any) and its kept state dir, for good."""
    from desired.repo import MetaRepo

    lay = layout(state_dir)
    if name in MetaRepo(lay.meta).load().state.agents:
        raise UserError(
            f"agent {name!r} is still in desired state; remove it first (`hive agent remove {name}`), "
            "then purge"
        )
    if not lay.agent_dir(name).exists():
        raise UserError(f"nothing to purge: no state dir for {name!r} at {lay.agent_dir(name)}")
    from reconciler.service import daemon_pid

    pid = daemon_pid(lay)
    if pid is not None:
        raise UserError(
            f"`hive serve` (pid {pid}) owns this swarm; purge {name!r} from the dashboard "
            "(Kept state → purge), or stop the daemon and run `hive purge` again"
        )
    return _apply(lay, runtime_for(state_dir, runtime, agent_command), (name,), as_json)


def logs(
    name: Annotated[str, typer.Argument(help="The agent whose log to show.")],
    lines: Annotated[
        int, typer.Option("--lines", "-n", min=1, help="How many lines from the end (at most 5000).")
    ] = 200,
    scope: Annotated[
        str,
        typer.Option(
            "--scope",
            help="Which log: harness (default); on nixos also machine (the container's whole journal) "
            "or build (nixos-container's output).",
        ),
    ] = "harness",
    state_dir: StateDirOpt = None,
    runtime: RuntimeOpt = "local",
) -> None:
    """Print the tail of an agent's log (the harness's output; on nixos its container's journal)."""
    from desired.repo import MetaRepo
    from reconciler.runtime.base import log_scope

    lay = layout(state_dir)
    agents = MetaRepo(lay.meta).load().state.agents  # no meta repo: says to run `hive init`
    rt = runtime_for(state_dir, runtime, None)
    chosen = log_scope(scope, rt.log_scopes, rt.kind)  # an unknown scope: refused before any read
    if name not in agents and not lay.agent_dir(name).exists():
        known = ", ".join(sorted(agents)) or "none"
        raise NotFoundError(f"no agent named {name!r} (agents: {known}); `hive agent list` shows them")
    found = rt.logs(name, lines, chosen)
    if not found:
        err_console().print(
            f"no log yet for {name}: it has not started (`hive status` says why)", markup=False
        )
    for line in found:
        console().print(line, markup=False, highlight=False)
