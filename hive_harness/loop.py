"""The turn loop: wait for mail (or the operator), run claude once, record what it cost, repeat.

One job at a time, from two sources: the broker (a parked `recv` between
turns, never during one, so the model's own `recv` inside a turn gets the
mail) and the agent page (operator prompts, compact). A wake's messages are acked once
a turn has used them: after `ok`, `failed` or `cancelled`; a `needs_login`
turn keeps them and retries after login; "prompt is too long" compacts the
session and retries once.

Before claude starts, the turn takes one of the swarm's turn slots from the
host (hive.json ``max_concurrent_turns``), first come, first served; while it
waits the page shows ``queued``. The slot is held by a connection of its own
and goes back when that closes: at turn end, or when this process dies. Mail
that arrives meanwhile stays in the host's queue (no recv runs during a turn).

Our MCP server is the persistent one (`mcp_http.py`) unless it cannot start
or `HIVE_MCP_TRANSPORT=stdio`: each turn first makes sure it is alive
(restarting it if not) and writes the turn's --mcp-config; when the turn's
claude exits, the tool calls it left running are ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from hive_harness import metaclone
from hive_harness.claude_run import ClaudeRun, ClaudeStartError
from hive_harness.command import (
    ClaudeArgs,
    child_env,
    claude_argv,
    credential_fingerprint,
    mcp_config,
    mcp_server_env,
)
from hive_harness.command import write_mcp_config as write_config
from hive_harness.mcp_http import McpStartError, PersistentMcp
from hive_harness.prompts import Wake, restart_note, wake_prompt
from hive_harness.runtime import Runtime, Status, TurnState
from hive_harness.stats import TurnRecord, TurnStats
from hive_harness.streamjson import ResultKind, TurnAccumulator, TurnOutcome, live_items
from hive_harness.usage import turn_usage
from hive_kit.client import HiveClient
from hive_kit.envfile import has_credentials
from hive_kit.errors import BadRequestError, BudgetPausedError, HiveError, UserError
from hive_kit.names import Role
from hive_kit.tasks import wait_set
from hive_kit.wire import MAX_RECV, Ack, GetOpenThreads, Hello, Recv, Remind, Report, TurnUsage

log = logging.getLogger(__name__)

COMPACT = "/compact"
LOCAL_POLL_SECONDS = 2.0
LOGIN_POLL_SECONDS = 2.0
QUEUED_AFTER_SECONDS = 0.05
"""A slot granted within this is not shown as a wait (no queued flash on every turn)."""
SLOT_RETRY_SECONDS = 2.0
BUDGET_RETRY_SECONDS = 10.0
"""Only against a host that refuses to hold a budget-paused turn (``wait``): how often to ask again.
The host normally holds the ask and lets it go the moment the agent may run."""
MAX_UNSENT_USAGE = 200  # reports kept for a host that is away; the oldest go first


@dataclass(frozen=True)
class CompactJob:
    """The operator asked for /compact from the agent page."""


Job = Wake | CompactJob


class Harness:
    def __init__(
        self,
        runtime: Runtime,
        client: HiveClient,
        stats: TurnStats,
        *,
        claude_bin: str,
        base_env: Mapping[str, str],
        system_prompt: str,
        mcp: PersistentMcp | None = None,
    ) -> None:
        self.rt = runtime
        self.client = client
        self.stats = stats
        self.claude_bin = claude_bin
        self.base_env = dict(base_env)
        self.system_prompt = system_prompt
        self.mcp = mcp
        self.jobs: asyncio.Queue[Job] = asyncio.Queue()
        self.current: ClaudeRun | None = None
        self.login_changed = asyncio.Event()
        self._claude_ms = 0
        self.web_port = 0
        self.host_lost = False
        self._meta_note: str | None = None
        self._unsent_usage: list[TurnUsage] = []

    # -- environment ----------------------------------------------------
    def claude_env(self) -> dict[str, str]:
        """Re-read per turn, so a secrets file dropped in takes effect without a restart."""
        return child_env(self.base_env, self.rt.paths.root, self.rt.paths.read_secrets())

    async def write_mcp_config(self) -> None:
        """This turn's --mcp-config: the persistent server ((re)started if need be), else stdio."""
        endpoint = None
        if self.mcp is not None:
            try:
                endpoint = await self.mcp.ensure()
            except (McpStartError, OSError) as exc:
                log.warning("%s: %s; this turn uses the stdio MCP server", self.rt.launch.name, exc)
                self.rt.note(f"MCP server: {exc}; this turn launches the stdio one instead")
        document = mcp_config(self.rt.launch, mcp_server_env(self.base_env), endpoint)
        write_config(self.rt.paths.mcp_config, document)

    # -- start-up --------------------------------------------------------
    async def announce(self, web_port: int) -> None:
        """hello (the host hands unacked mail out again), then a note to self about the restart.

        The note is a reminder due now: the host refuses messages to oneself, and a reminder
        arrives through the same inbox, so it wakes the loop like any message.
        """
        self.web_port = web_port
        try:
            await self.client.request(Hello(pid=os.getpid(), web_port=web_port), timeout=10)
            await self.client.request(Remind(message=restart_note(), delay_seconds=0), timeout=10)
        except (HiveError, TimeoutError) as exc:
            self.host_lost = True
            log.warning(
                "%s: could not greet the host (%s); the loop will keep retrying recv",
                self.rt.launch.name,
                exc,
            )
        self.rt.set_status(Status.ONLINE if has_credentials(self.claude_env()) else Status.STARTING)

    # -- the loop --------------------------------------------------------
    async def run_forever(self) -> None:
        self.rt.paths.home.mkdir(parents=True, exist_ok=True)
        while True:
            job = await self.next_job()
            await self.run_job(job)

    async def next_job(self) -> Job:
        """Page jobs first; otherwise park a `recv` for up to LOCAL_POLL_SECONDS and loop.

        Never cancel a parked recv: the host would still hand the next message to it and
        write it to a closed connection (lost until the next hello). Parking briefly instead
        bounds how long a page action waits (≤ LOCAL_POLL_SECONDS), while mail still wakes
        the loop at once. No recv is in flight during a turn, so the model's own
        `recv(wait_seconds=180)` inside a turn gets the mail.
        """
        while True:
            if not self.jobs.empty():
                return self.jobs.get_nowait()
            try:
                if self.host_lost:
                    # the daemon restarted (or we started before it): tell the new one we are here
                    await self.client.request(Hello(pid=os.getpid(), web_port=self.web_port), timeout=10)
                    self.host_lost = False
                    log.info("%s: the host is back; said hello again", self.rt.launch.name)
                result = await self.client.request(Recv(wait_seconds=LOCAL_POLL_SECONDS, max=MAX_RECV))
            except (HiveError, TimeoutError) as exc:
                self.host_lost = True
                log.warning("%s: host unreachable (%s); retrying in 2 s", self.rt.launch.name, exc)
                await asyncio.sleep(2)
                continue
            if result.messages:
                return wake_prompt(result.messages)

    async def run_job(self, job: Job) -> None:
        if isinstance(job, CompactJob):
            await self.turn(COMPACT, "operator: compact", compacting=True)
            return
        await self.run_wake(job)

    async def run_wake(self, wake: Wake) -> None:
        outcome = await self.turn(wake.prompt, wake.wake_from)
        while outcome.kind is ResultKind.NEEDS_LOGIN:
            await self.wait_for_login()
            outcome = await self.turn(wake.prompt, wake.wake_from)
        if outcome.kind is ResultKind.PROMPT_TOO_LONG:
            self.rt.note("prompt too long: compacting the session, then retrying this wake once")
            await self.turn(COMPACT, f"compact: {wake.wake_from}", compacting=True)
            outcome = await self.turn(wake.prompt, wake.wake_from)
        if wake.message_ids:
            try:
                await self.client.request(Ack(ids=list(wake.message_ids)), timeout=10)
            except (HiveError, TimeoutError) as exc:
                log.warning("%s: ack of %s failed: %s", self.rt.launch.name, wake.message_ids, exc)

    # -- login -----------------------------------------------------------
    async def enter_needs_login(self) -> None:
        if self.rt.status is not Status.NEEDS_LOGIN:
            self.rt.set_status(Status.NEEDS_LOGIN, "claude reported authentication_failed")
            await self._report("needs_login")

    async def wait_for_login(self) -> None:
        """Until credentials appear or change (secrets file, env, a finished login flow); then logged_in.

        "Change", not just "present": a key that claude refused stays refused, and retrying
        with it would spawn claude in a tight loop.
        """
        await self.enter_needs_login()
        refused = credential_fingerprint(self.claude_env())
        while not has_credentials(env := self.claude_env()) or credential_fingerprint(env) == refused:
            self.login_changed.clear()
            await wait_set(self.login_changed, LOGIN_POLL_SECONDS)
        self.rt.set_status(Status.ONLINE, "credentials found")
        await self._report("logged_in")

    async def _report(self, status: Literal["needs_login", "logged_in"]) -> None:
        try:
            await self.client.request(Report(status=status), timeout=10)
        except (HiveError, TimeoutError) as exc:
            log.warning("%s: could not report %s to the host: %s", self.rt.launch.name, status, exc)

    # -- one claude run --------------------------------------------------
    async def turn(self, prompt: str, wake_from: str, *, compacting: bool = False) -> TurnOutcome:
        async with contextlib.AsyncExitStack() as slot:
            await self._take_slot(slot, wake_from)
            return await self._run_claude(prompt, wake_from, compacting=compacting)

    async def _take_slot(self, stack: contextlib.AsyncExitStack, wake_from: str) -> None:
        """Hold a swarm turn slot for the rest of ``stack``; show ``queued`` while the host makes us wait.

        Paused for the budget, the host says so at once (shown as ``paused: budget`` with its reason);
        the next ask is ``wait=True`` and the host holds it until the agent may run again. A host
        that cannot be reached is asked again (it is the one that counts slots); a host too old to
        know the op lets the turn run without one.
        """
        wait = False
        while True:
            entering = asyncio.ensure_future(stack.enter_async_context(self.client.turn_slot(wait=wait)))
            try:
                done, _ = await asyncio.wait({entering}, timeout=QUEUED_AFTER_SECONDS)
            except BaseException:  # stopping while asking: do not leave the ask running on its own
                entering.cancel()
                raise
            if not done and not wait:
                self.rt.set_turn_state(TurnState.QUEUED, wake_from)
                self.rt.bus.publish("turn_queued", wake_from=wake_from)
            try:
                grant = await entering
            except BadRequestError as exc:
                if wait:  # a host that cannot hold: ask again later, never run past the budget
                    await asyncio.sleep(BUDGET_RETRY_SECONDS)
                    continue
                log.warning(
                    "%s: the host grants no turn slots (%s); running unslotted", self.rt.launch.name, exc
                )
                return
            except BudgetPausedError as exc:  # claude does not start; the mail stays unacked, queued
                self._paused(exc, wake_from)
                if wait:  # the host let go without a grant (a host that cannot hold): do not spin
                    await asyncio.sleep(BUDGET_RETRY_SECONDS)
                wait = True
                continue
            except (HiveError, TimeoutError) as exc:
                log.warning("%s: no turn slot yet (%s); asking again", self.rt.launch.name, exc)
                if not wait:
                    self.rt.set_turn_state(TurnState.QUEUED, wake_from)
                await asyncio.sleep(SLOT_RETRY_SECONDS)
                continue
            if wait:
                log.info("%s: the host lets the turn run again", self.rt.launch.name)
            if grant.waited_seconds:
                log.info("%s: turn slot after %.1f s in line", self.rt.launch.name, grant.waited_seconds)
            return

    def _paused(self, exc: BudgetPausedError, wake_from: str) -> None:
        if self.rt.turn_state is not TurnState.PAUSED_BUDGET:
            log.warning("%s: %s", self.rt.launch.name, exc)
            self.rt.note(str(exc))  # the reason, on the agent's page
        self.rt.set_turn_state(TurnState.PAUSED_BUDGET, wake_from)

    async def _run_claude(self, prompt: str, wake_from: str, *, compacting: bool) -> TurnOutcome:
        rt = self.rt
        model = rt.model
        fresh = rt.new_session_pending and not compacting
        args = ClaudeArgs(prompt, model, rt.paths.mcp_config, self.system_prompt, continue_session=not fresh)
        argv = claude_argv(self.claude_bin, rt.launch, args)
        started = time.time()
        rt.set_turn_state(TurnState.COMPACTING if compacting else TurnState.THINKING, wake_from)
        rt.bus.publish("turn_start", wake_from=wake_from, model=model, prompt=prompt, new_session=fresh)
        await self.write_mcp_config()
        if rt.launch.role is Role.MANAGER:
            await self.sync_meta()
        try:
            run = await ClaudeRun.start(argv, env=self.claude_env(), cwd=rt.paths.root)
        except ClaudeStartError as exc:
            self._claude_ms = 0
            rt.note(str(exc))
            outcome = TurnAccumulator().outcome(exit_note=str(exc))
            await self._finish(outcome, model, wake_from, started)
            return outcome
        self.current = run
        try:
            result = await run.wait(self._publish_stream)
        finally:
            self.current = None
            if self.mcp is not None:
                await self.mcp.end_turn()
        self._claude_ms = int((time.time() - started) * 1000)
        outcome = result.acc.outcome(cancelled=result.cancelled, exit_note=result.exit_note())
        if fresh and outcome.kind is ResultKind.OK:
            rt.new_session_pending = False
        await self._finish(outcome, model, wake_from, started)
        return outcome

    async def sync_meta(self) -> None:
        """The manager's clone (/state/meta) follows `main` before each turn; failures are noted."""
        try:
            note = await asyncio.to_thread(metaclone.refresh, self.rt.launch.name, self.base_env)
        except metaclone.CloneError as exc:
            note = str(exc)
            if note != self._meta_note:
                self.rt.note(note)
        if note is not None and note != self._meta_note:
            log.warning("%s: %s", self.rt.launch.name, note)
        self._meta_note = note

    def _publish_stream(self, event: dict[str, Any]) -> None:
        for item in live_items(event):
            self.rt.bus.publish("stream", **item)

    async def _finish(self, outcome: TurnOutcome, model: str, wake_from: str, started: float) -> None:
        ended = time.time()
        rt = self.rt
        if outcome.kind is ResultKind.NEEDS_LOGIN:
            await self.enter_needs_login()
        elif outcome.kind is ResultKind.OK and rt.status is not Status.ONLINE:
            rt.set_status(Status.ONLINE, "a turn succeeded")
        rt.set_usage(outcome.usage, outcome.last_call)
        threads, reminders = await self._open_counts()
        record = TurnRecord(
            model=outcome.model or model,
            wake_from=wake_from,
            result_kind=outcome.kind.value,
            started_at=started,
            ended_at=ended,
            duration_ms=int((ended - started) * 1000),
            input_tokens=outcome.usage.input,
            output_tokens=outcome.usage.output,
            cache_read_tokens=outcome.usage.cache_read,
            cache_creation_tokens=outcome.usage.cache_creation,
            cost_usd=outcome.cost_usd,
            tool_call_count=outcome.tool_call_count,
            tool_call_breakdown=outcome.tool_calls,
            open_threads_count=threads,
            open_reminders_count=reminders,
            note=outcome.note[:2000],
        )
        self.stats.record(record)
        usage = turn_usage(outcome, model=model, turn_id=uuid.uuid4().hex, started=started, ended=ended)
        await self._report_usage(usage)
        summary = {k: v for k, v in record.__dict__.items() if k != "tool_call_breakdown"}
        # claude_ms: spawn to exit of the child, so the harness's own share of a turn is visible
        rt.last_turn = {**summary, "tool_calls": outcome.tool_calls, "claude_ms": self._claude_ms}
        rt.bus.publish("turn_end", **rt.last_turn)
        rt.set_turn_state(TurnState.IDLE)
        log.info(
            "%s: turn from %s ended %s in %d ms", rt.launch.name, wake_from, outcome.kind, record.duration_ms
        )

    async def _report_usage(self, usage: TurnUsage) -> None:
        """To the host's cost ledger; kept and resent after the next turn if the host is away.

        Resending is safe: the host ignores a turn id it has already recorded.
        """
        self._unsent_usage = [*self._unsent_usage, usage][-MAX_UNSENT_USAGE:]
        while self._unsent_usage:
            try:
                await self.client.request(self._unsent_usage[0], timeout=10)
            except UserError as exc:  # refused: sending it again would be refused again
                log.warning("%s: the host refused a turn's usage: %s", self.rt.launch.name, exc)
            except (HiveError, TimeoutError) as exc:
                log.warning("%s: turn usage not recorded by the host yet: %s", self.rt.launch.name, exc)
                return
            self._unsent_usage.pop(0)

    async def _open_counts(self) -> tuple[int | None, int | None]:
        try:
            threads = await self.client.request(GetOpenThreads(), timeout=5)
        except (HiveError, TimeoutError) as exc:
            log.debug("open threads unavailable: %s", exc)
            return None, None
        counts = threads.counts
        open_threads = sum(counts.get(k, 0) for k in ("approvals", "questions_asked", "questions_to_me"))
        return open_threads, counts.get("reminders", 0)

    # -- controls (agent page) ------------------------------------------
    async def cancel(self) -> bool:
        run = self.current
        if run is None:
            return False
        self.rt.set_turn_state(TurnState.CANCELLING, self.rt.current_wake)
        await run.cancel()
        return True

    def submit(self, job: Job) -> None:
        self.jobs.put_nowait(job)

    async def close(self) -> None:
        if self.current is not None:
            await self.current.cancel(grace=2)
        if self.mcp is not None:
            await self.mcp.stop()
