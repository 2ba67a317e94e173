"""HostCore: the stores, the event log, the desired-state view and the seams, in one place.

One per daemon. Op handlers (``hive_core.ops``) and schedulers take it as
their first argument; it does no I/O of its own beyond opening the store.
The reconciler plugs in with ``attach_reconciler``, reads ``harnesses`` and
subscribes to ``metawatch``; the core's own subscriber only sets
``meta_changed``, and the meta-follow loop (``hive_core.schedulers``) does
the rest in order: desired view, agent sockets, proposal events.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from desired.egress import HostPattern
from desired.repo import Author
from hive_core.budget_gate import BudgetGate
from hive_core.budgets import budget_refusal
from hive_core.control import ReconcilerControl
from hive_core.desired_view import DesiredView
from hive_core.egress import EgressRecord
from hive_core.egress_policy import EgressPolicies, ModelApi
from hive_core.events import EventLog
from hive_core.gateway import Call, HostModelApi, ModelGateway, call_report
from hive_core.harnesses import Harnesses
from hive_core.identities import AgentIds, Identities, UidRange, can_chown
from hive_core.ledger import Ledger, Source, utc_day
from hive_core.logins import LoginCodes
from hive_core.metawatch import MetaWatch
from hive_core.notices import QUIET_KINDS, DenialThrottle, NoticeSink, denial_event
from hive_core.proposal_watch import ProposalWatch
from hive_core.stores.batch import batch_for
from hive_core.stores.broker import Broker
from hive_core.stores.budget_holds import BudgetHolds
from hive_core.stores.egress import EgressLog
from hive_core.stores.questions import QuestionStore
from hive_core.stores.reminders import DEFAULT_PENDING_CAP, ReminderStore
from hive_core.stores.schema import open_core_db
from hive_core.stores.spawns import SpawnLog
from hive_core.turnslots import TurnSlots
from hive_kit.errors import NotFoundError, UnavailableError
from hive_kit.names import OPERATOR, Role
from hive_kit.paths import StateLayout

log = logging.getLogger(__name__)

EGRESS_FAILURES = ("cannot resolve ", "cannot connect ", "client went away", "connection lost")
"""How the proxy's reasons for a connection that was allowed but failed begin: those are not refusals.
Any other reason on a row that was not allowed is one (an unknown reason is reported, not hidden)."""


@dataclass(frozen=True)
class Caller:
    """Who is asking: fixed by the socket the request came in on."""

    name: str
    role: Role

    @property
    def author(self) -> Author:
        return Author(self.name, f"{self.name}@hyperhive.local")


OPERATOR_CALLER = Caller(OPERATOR, Role.OPERATOR)


class HostCore:
    def __init__(
        self,
        layout: StateLayout,
        *,
        clock: Callable[[], float] = time.time,
        reminder_cap: int = DEFAULT_PENDING_CAP,
        uid_range: UidRange | None = None,
    ) -> None:
        self.layout = layout
        self.clock = clock
        self.conn = open_core_db(layout.db)
        self.conn.execute("PRAGMA wal_autocheckpoint=0")  # checkpoints run off-loop: stores/checkpoint.py
        self.batch = batch_for(self.conn)
        self.events = EventLog(self.conn)
        self.broker = Broker(self.conn, self.events, clock)
        self.questions = QuestionStore(self.conn, clock)
        self.reminders = ReminderStore(self.conn, clock, reminder_cap)
        self.egress_log = EgressLog(self.conn)
        self.spawns = SpawnLog(self.conn)
        """The manager's spawn requests, counted against hive.json max_spawns_per_day."""
        self.egress_throttle = DenialThrottle()
        self.ledger = Ledger(layout.ledger, clock=clock)
        """What every turn used and cost, as each agent's harness reported it (`hive costs`)."""
        self.identities = Identities.open(layout.db, uid_range)
        """Each agent's own uid/gid (its own connection: allocation runs off the loop, see agent_ids)."""
        self.harnesses = Harnesses()
        self.login_codes = LoginCodes(clock)
        """One-time dashboard login links (admin op ``dashboard_login``; redeemed by the dashboard)."""
        self.desired = DesiredView(layout.meta)
        self.metawatch = MetaWatch(layout.meta)
        """The one watcher on the meta repo's refs; the daemon runs it, everyone else subscribes."""
        self.proposals = ProposalWatch(self.desired, self.events)
        self.egress = EgressPolicies(self.desired.cached, ModelApi(layout.secrets).pattern)
        """Each agent's effective egress allow-list (the model API + its own or the swarm's list)."""
        self.gateway = ModelGateway(
            HostModelApi(layout.secrets).upstream, self.record_call, self.call_refusal
        )
        """The model-API gateway behind every agent's ``model.sock`` (``hive_core.gateway``)."""
        self.turn_slots = TurnSlots(lambda: self.desired.cached().state.settings.max_concurrent_turns, clock)
        """hive.json's max_concurrent_turns: who runs a turn now, who waits (``hive_core.turnslots``)."""
        self.desired.on_change(lambda _snapshot: self.turn_slots.grant())  # a raised cap lets the line move
        self.budget_holds = BudgetHolds(self.conn)
        """Per agent and UTC day: the operator's budget question, and "resume for today"."""
        self.budget_gate = BudgetGate(clock)
        """Budget-paused agents' held turn-slot requests (``hive_core.budget_gate``)."""
        self.desired.on_change(lambda _snapshot: self.budget_gate.poke())  # a raised budget lets them run
        self.reconciler: ReconcilerControl | None = None
        self.deadlines_changed = asyncio.Event()
        """Set when a reminder or question deadline is added or moved: the scheduler re-plans at once."""
        self.meta_changed = asyncio.Event()
        """Set when a ref moved (or `main` was re-read): the meta-follow loop looks at `main` and the
        proposal tags now."""
        self.retention_now = asyncio.Event()
        self.checkpoint_now = asyncio.Event()
        self.events.add_sink(NoticeSink(self.broker, self.desired.manager_name), ignore=QUIET_KINDS)
        self.desired.on_change(lambda _snapshot: self.meta_changed.set())
        self.metawatch.subscribe("host-core", lambda _moved: self.meta_changed.set())

    def startup(self) -> None:
        """Run once when the daemon starts: hand out again whatever was delivered but never acked."""
        count = self.broker.redeliver()
        if count:
            log.info("%d delivered-but-unacked messages will be handed out again", count)
        self.metawatch.check()  # the watcher's baseline: what moves from here on is reported
        self.desired.refresh()
        self.proposals.check(seed=True, missed_since=self.events.last_ts())

    def close(self) -> None:
        self.batch.flush()
        self.identities.close()
        self.ledger.close()
        self.conn.close()

    # ---- seams -------------------------------------------------------------------------------

    def attach_reconciler(self, control: ReconcilerControl | None) -> None:
        self.reconciler = control

    def require_reconciler(self) -> ReconcilerControl:
        if self.reconciler is None:
            raise UnavailableError(
                "the reconciler is not running in this daemon; desired state is saved and will be "
                "applied when it runs (check `hive serve`'s log)"
            )
        return self.reconciler

    # ---- egress (the proxy on each agent's egress.sock asks these) ---------------------------

    def egress_policy(self, name: str) -> Sequence[HostPattern]:
        """The hosts ``name`` may reach through its egress proxy now (read per connection)."""
        return self.egress.policy(name)

    def record_egress(self, rec: EgressRecord) -> None:
        """One proxied connection ended: keep it in the egress log; a refusal is also an event, throttled."""
        self.egress_log.add(rec)
        if rec.allowed:
            return
        if rec.reason.startswith(EGRESS_FAILURES):
            log.info("egress failed: %s → %s:%d (%s)", rec.agent, rec.host, rec.port, rec.reason)
            return
        log.warning("egress denied: %s → %s:%d (%s)", rec.agent, rec.host, rec.port, rec.reason)
        repeats = self.egress_throttle.admit(rec.agent, rec.host, rec.port, self.clock())
        if repeats is not None:
            self.events.publish(denial_event(rec.agent, rec.host, rec.port, rec.reason, repeats))

    # ---- the model gateway (each agent's model.sock asks these) -----------------------------

    async def call_refusal(self, agent: str) -> str | None:
        """Why ``agent`` may not call the model now: its budget, unless the operator resumed it for
        today (as for a turn slot, ``ops.budgeting.refusal``; disk reads in a thread)."""
        now = self.clock()
        resumed = self.budget_holds.resumed(agent, utc_day(now))
        return await asyncio.to_thread(
            lambda: budget_refusal(self.desired.current().state, self.ledger, agent, now, resumed=resumed)
        )

    async def record_call(self, call: Call) -> None:
        """One model call the gateway measured: a ``gateway`` row in the ledger, priced from the table."""
        report = call_report(call)
        await asyncio.to_thread(self.ledger.record, call.agent, report, source=Source.GATEWAY)

    def poke_deadlines(self) -> None:
        self.deadlines_changed.set()

    # ---- identity ----------------------------------------------------------------------------

    async def agent_ids(self, name: str) -> AgentIds | None:
        """``name``'s own uid/gid (allocated on first ask), or None when the daemon is not root and
        so has no uids to give: then every socket stays the daemon's own."""
        if not can_chown():
            return None
        return await asyncio.to_thread(self.identities.for_agent, name)

    def manager_caller(self) -> Caller:
        name = self.desired.manager_name()
        if name is None:
            raise NotFoundError("desired state has no manager agent; the manager socket has no one behind it")
        return Caller(name, Role.MANAGER)

    def agent_caller(self, name: str) -> Caller:
        spec = self.desired.agent(name)
        if spec is None:
            raise NotFoundError(f"agent {name!r} is no longer in desired state; its socket is closing")
        return Caller(name, spec.role)
