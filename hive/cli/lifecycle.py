"""`hive restart NAME`, `hive rebuild NAME`, `hive stop --all`: act on running agents, not desired state.

None of these commits anything. `restart` and `rebuild` ask the running
daemon's reconciler for one action, once, over the admin socket (the ops
``restart`` and ``rebuild``; an agent's socket refuses both), the way
`hive reconcile --now` asks for a pass; the action lands in the agent's
history (`hive history NAME`, `hive status --json`) with who asked.

`hive stop --all` is `docker compose stop` for a swarm whose daemon is down:
agents outlive `hive serve` (a restarted daemon adopts them), so this is how
an operator stops their processes. It refuses while `hive serve` runs, whose
reconciler would only start them again; desired state still says running,
so the next `hive serve` does.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from hive.cli.common import JsonOpt, StateDirOpt, admin, layout, no_state_dir, ok, print_json
from hive.cli.reconcile import RuntimeOpt, runtime_for
from hive_kit import wire
from hive_kit.errors import UserError
from hive_kit.paths import StateLayout


def register(app: typer.Typer) -> None:
    app.command("restart")(restart)
    app.command("rebuild")(rebuild)
    app.command("stop")(stop)


def _ask(state_dir: Path | None, req: wire.Request, as_json: bool) -> None:
    with admin(state_dir, timeout=30) as client:
        done: wire.Done = client.request(req)
    if as_json:
        print_json({"requested": True, "note": done.note})
    else:
        ok(done.note)


def restart(
    name: Annotated[str, typer.Argument(help="The agent to stop and start again, as it is.")],
    state_dir: StateDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Stop and start an agent with the same build (desired state unchanged; needs `hive serve`)."""
    _ask(state_dir, wire.Restart(name=name), as_json)


def rebuild(
    name: Annotated[str, typer.Argument(help="The agent whose container to destroy and create again.")],
    state_dir: StateDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Destroy and create an agent's container from desired state, keeping /state (needs `hive serve`)."""
    _ask(state_dir, wire.Rebuild(name=name), as_json)


def _daemon_running(lay: StateLayout) -> str | None:
    from hive.daemon import serve_pid
    from reconciler.service import daemon_pid

    pid = serve_pid(lay)
    if pid is not None:
        return f"`hive serve` (pid {pid or '?'})"
    pid = daemon_pid(lay)
    return None if pid is None else f"a reconciler (pid {pid})"


def stop(
    all_: Annotated[bool, typer.Option("--all", help="Every agent of this state dir (required).")] = False,
    state_dir: StateDirOpt = None,
    runtime: RuntimeOpt = "local",
    as_json: JsonOpt = False,
) -> None:
    """Stop every agent process left running after `hive serve` stopped; the next `hive serve` starts them."""
    lay = layout(state_dir)
    if not lay.meta.exists():
        raise no_state_dir(lay)
    if not all_:
        raise UserError(
            "`hive stop` stops every agent, so it needs --all; to keep one agent stopped, "
            "`hive agent set NAME state stopped`"
        )
    owner = _daemon_running(lay)
    if owner is not None:
        raise UserError(
            f"{owner} runs on {lay.root} and would start them again: stop it first (Ctrl-C), then "
            "`hive stop --all`; to keep one agent stopped, `hive agent set NAME state stopped`"
        )
    stopped = asyncio.run(_stop_all(lay, runtime_for(state_dir, runtime, None)))
    if as_json:
        print_json({"stopped": stopped})
    elif stopped:
        them = "it" if len(stopped) == 1 else "them"
        ok(f"stopped {', '.join(stopped)}; desired state is unchanged, so `hive serve` starts {them} again")
    else:
        ok("no agent is running")


async def _stop_all(lay: StateLayout, rt: Any) -> list[str]:
    """Stop each running agent, and write each stop into its history (deploys.sqlite)."""
    from reconciler.model import ContainerState
    from reconciler.store import HistoryRow, deploys_path, open_deploys

    running = sorted(name for name, o in (await rt.list()).items() if o.state is ContainerState.RUNNING)
    if not running:
        return []
    store = open_deploys(deploys_path(lay.root))
    try:
        applied = store.applied()
        for name in running:
            started, t0 = time.time(), time.monotonic()
            await rt.stop(name, lambda _line: None)
            revision = applied[name].revision if name in applied else ""
            took = int((time.monotonic() - t0) * 1000)
            reason = "stop asked by the operator (`hive stop --all`)"
            store.add_history(HistoryRow(name, "stop", reason, revision, started, took, "ok", None))
    finally:
        store.close()
    return running
