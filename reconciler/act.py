"""Carrying out one planned action for one agent: runtime calls, durable records, health gate.

Order matters for crash safety: the inventory row is written *before* a
container is created (so a daemon killed mid-create still owns what it
made), the applied record right after the runtime call succeeds (so the
next pass does not rebuild it again), and the health gate last — a failed
gate marks the agent degraded but does not undo a deploy that happened.
Seed files (``reconciler.seeding``) go into the state dir just before a
create or replace, only where nothing is; a runtime whose /state is not on this
host (``places_seeds``: kubernetes) gets them in the spec and places them itself.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import time
from dataclasses import dataclass
from typing import assert_never

from desired.schema import DesiredState
from hive_core.control import HarnessRegistry
from hive_core.events import AgentDestroyed, AgentRebuilt, AgentSpawned, AgentStarted, AgentStopped
from hive_kit.errors import HiveError, TemporaryError
from hive_kit.launch import AgentLaunchConfig, LaunchMcpServer
from hive_kit.names import Role
from hive_kit.paths import StateLayout
from reconciler.events import EventSink
from reconciler.health import AgentSockets
from reconciler.model import Action, ActionKind, ContainerState, spec_view, wants_running
from reconciler.runtime.base import LaunchSpec, LineSink, Runtime
from reconciler.seeding import place_seeds
from reconciler.store import DeployStore

_GATE_SLICE = 0.25


class HealthGateFailed(TemporaryError):
    """The agent did not announce itself in time (or exited first)."""


@dataclass
class Context:
    layout: StateLayout
    runtime: Runtime
    store: DeployStore
    health: HarnessRegistry
    sockets: AgentSockets
    events: EventSink
    health_timeout: float = 30.0


def launch_spec(layout: StateLayout, name: str, is_manager: bool) -> LaunchSpec:
    return LaunchSpec(
        name=name,
        is_manager=is_manager,
        state_dir=layout.agent_state(name),
        build_dir=layout.agent_build(name),
        socket=layout.socket_for(name, is_manager=is_manager),
        log_file=layout.agent_dir(name) / "agent.log",
    )


def launch_config(desired: DesiredState, name: str, revision: str, fingerprint: str) -> AgentLaunchConfig:
    spec = desired.agents[name]
    return AgentLaunchConfig(
        name=name,
        role=spec.role.value,
        model=desired.effective_model(name),
        description=spec.description,
        operator_pronouns=desired.settings.operator_pronouns,
        allowed_recipients=list(spec.allowed_recipients),
        extra_mcp_servers={
            key: LaunchMcpServer(
                command=s.command, args=list(s.args), env=dict(s.env), allowed_tools=list(s.allowed_tools)
            )
            for key, s in spec.extra_mcp_servers.items()
        },
        revision=revision,
        fingerprint=fingerprint,
        allowed_tools=None if spec.allowed_tools is None else list(spec.allowed_tools),
        bash_allow=None if spec.bash_allow is None else list(spec.bash_allow),
    )


async def apply(ctx: Context, action: Action, desired: DesiredState, progress: LineSink) -> None:
    """Do ``action``; raises TemporaryError / PermanentError for the loop to back off on."""
    kind = action.kind
    if kind in (ActionKind.CREATE, ActionKind.UPDATE, ActionKind.REPLACE):
        await _deploy(ctx, action, desired, progress)
    elif kind in (ActionKind.START, ActionKind.RESTART):
        spec = await _open(ctx, desired, action.name)
        if kind is ActionKind.RESTART:
            await ctx.runtime.stop(action.name, progress)
        since = time.time()
        await ctx.runtime.start(spec, progress)
        record_metadata(ctx, action, desired)
        ctx.events.emit(AgentStarted(agent=action.name))
        await health_gate(ctx, action.name, since)
    elif kind is ActionKind.STOP:
        await ctx.runtime.stop(action.name, progress)
        record_metadata(ctx, action, desired)
        ctx.events.emit(AgentStopped(agent=action.name))
    elif kind is ActionKind.METADATA:
        record_metadata(ctx, action, desired)
    elif kind in (ActionKind.DESTROY, ActionKind.PURGE):
        await _remove(ctx, action.name, purge=kind is ActionKind.PURGE, progress=progress)
    else:  # a new kind must get its own branch; never fall through to removing an agent
        assert_never(kind)


def record_metadata(ctx: Context, action: Action, desired: DesiredState) -> None:
    """The planner found the agent runs what desired state says, but metadata changed: record it.

    Only for a metadata action, or a start or stop the planner gave metadata ``changes`` (a forced
    restart has none). Nothing that runs reads metadata, so the launch config is left as built.
    """
    if action.kind is ActionKind.METADATA or action.changes:
        spec = spec_view(desired, action.name)
        ctx.store.record_applied(action.name, action.revision, action.fingerprint, spec)


async def _open(ctx: Context, desired: DesiredState, name: str) -> LaunchSpec:
    is_manager = desired.agents[name].role is Role.MANAGER
    await ctx.sockets.open_agent(name, is_manager=is_manager)
    return launch_spec(ctx.layout, name, is_manager)


async def _deploy(ctx: Context, action: Action, desired: DesiredState, progress: LineSink) -> None:
    name = action.name
    existed = had_one = name in ctx.store.inventory()
    if action.kind is ActionKind.REPLACE:
        await ctx.runtime.destroy(name, progress)
        await ctx.sockets.close_agent(name)
        existed = False
    ctx.store.add_inventory(name, ctx.runtime.kind)
    spec = await _open(ctx, desired, name)
    config = launch_config(desired, name, action.revision, action.fingerprint)
    config = config.model_copy(update={"uid": await ctx.runtime.agent_uid(name)})
    config.write(spec.config_file)
    if ctx.runtime.uses_meta_flake:
        from reconciler.nixrender import sync_flake

        sync_flake(ctx.layout, desired, action.revision)
    since = time.time()
    if existed and action.kind is ActionKind.UPDATE:
        await ctx.runtime.update(spec, progress)
    else:
        spec = dataclasses.replace(spec, seeds=desired.seeds.get(name, {}))
        if not ctx.runtime.places_seeds:
            await _seed(ctx, desired, spec, config.uid, progress)
        await ctx.runtime.create(spec, progress)
    ctx.store.record_applied(name, action.revision, action.fingerprint, spec_view(desired, name))
    event = AgentRebuilt if had_one else AgentSpawned  # a replace (`hive rebuild`) is a rebuild too
    ctx.events.emit(event(agent=name, revision=action.revision))
    if not wants_running(desired, name):
        await ctx.runtime.stop(name, progress)
        return
    await health_gate(ctx, name, since)


async def _seed(
    ctx: Context, desired: DesiredState, spec: LaunchSpec, uid: int | None, progress: LineSink
) -> None:
    """Its seed files into its state dir before a create: where nothing is, as the agent (``seeding``)."""
    seeds = desired.seeds.get(spec.name)
    if seeds:
        placed = await asyncio.to_thread(place_seeds, spec.state_dir, seeds, uid)
        progress(placed.summary(spec.name))


async def _remove(ctx: Context, name: str, *, purge: bool, progress: LineSink) -> None:
    await ctx.runtime.destroy(name, progress)
    await ctx.sockets.close_agent(name)
    ctx.store.forget_applied(name)
    ctx.store.remove_inventory(name)
    if purge:
        await ctx.runtime.purge(name, progress)
        shutil.rmtree(ctx.layout.agent_dir(name), ignore_errors=True)
        progress(f"agent {name}: state dir {ctx.layout.agent_dir(name)} removed")
    ctx.events.emit(AgentDestroyed(agent=name, purged=purge))


async def _log_tail(runtime: Runtime, name: str) -> list[str]:
    """The agent's last log lines for an error message (nixos reads a journal: not on the loop)."""
    try:
        return await asyncio.to_thread(runtime.logs, name, 3)
    except HiveError as exc:
        return [f"(its log is unreadable: {exc})"]


async def health_gate(ctx: Context, name: str, since: float) -> None:
    """Wait for the agent's hello; fail early if its process ends first (a container still
    starting, such as a pod being scheduled, is given the whole timeout)."""
    log_file = ctx.layout.agent_dir(name) / "agent.log"
    deadline = time.monotonic() + ctx.health_timeout
    while time.monotonic() < deadline:
        if await ctx.health.wait_hello(name, since, _GATE_SLICE):
            return
        observed = (await ctx.runtime.list()).get(name)
        if observed is None or observed.state not in (ContainerState.RUNNING, ContainerState.STARTING):
            code = (
                "" if observed is None or observed.exit_code is None else f" with code {observed.exit_code}"
            )
            tail = " | ".join(await _log_tail(ctx.runtime, name))
            raise HealthGateFailed(
                f"agent {name} exited{code} right after start; last log lines: {tail} (full log: {log_file})"
            )
    raise HealthGateFailed(
        f"agent {name} did not announce itself on its socket within {ctx.health_timeout:g}s; "
        f"see its log {log_file} (`hive logs {name}`)"
    )
