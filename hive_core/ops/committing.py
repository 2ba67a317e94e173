"""``propose_commit``: a commit from the manager's own clone of the meta repo becomes a proposal.

The bundle is unpacked and checked by ``desired.bundles.received`` (a host-owned
quarantine; the host never runs git in the manager's clone). Here: the manager's
self rules, the same ``hive_kit.changes`` ones ``propose`` enforces, read off
the states before and after (it may not remove itself, change its own role,
state or suspension, nor the operator's guards in hive.json); then
``desired.proposals.propose_files`` records the commit's files exactly as
committed, so the proposal's diff is the commit's diff.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from collections.abc import Callable

from desired import proposals
from desired.bundles import FIX, Incoming, received
from desired.repo import FileChanges, MetaRepo
from desired.rules import HIVE_FILE, agent_file
from hive_core.core import Caller, HostCore
from hive_core.ops.managing import spawn_quota
from hive_core.ops.registry import handles
from hive_kit import wire
from hive_kit.changes import HOST_SETTINGS, SELF_FIELDS, host_setting_refusal
from hive_kit.errors import ForbiddenError, UserError

log = logging.getLogger(__name__)


def _no_self_removal(me: str) -> Callable[[FileChanges], None]:
    mine = agent_file(me)

    def guard(changes: FileChanges) -> None:
        if mine in changes and changes[mine] is None:
            raise ForbiddenError(
                f"{mine}: your commit removes you ({me}); the manager may not remove itself. "
                f"Restore it (`git checkout origin/main -- {mine}`), commit, and propose_commit again"
            )

    return guard


def self_commit_refusal(me: str, incoming: Incoming) -> str | None:
    """Why the manager ``me`` may not propose this commit (file, field, fix), or None."""
    before, after = incoming.before, incoming.after
    mine = agent_file(me)
    if me in before.agents and me in after.agents:
        for field in sorted(SELF_FIELDS):
            old, new = getattr(before.agents[me], field), getattr(after.agents[me], field)
            if old != new:
                return (
                    f"{mine} `{field}`: you ({me}) may not change your own {field} "
                    f"({old!s} → {new!s}); put it back, commit, and propose_commit again"
                )
    for field in sorted(HOST_SETTINGS):
        if getattr(before.settings, field) != getattr(after.settings, field):
            return f"{HIVE_FILE}: {host_setting_refusal(field)}"
    return None


def _decode(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise UserError(f"the bundle is not base64; {FIX}") from exc


@handles(wire.ProposeCommit)
async def propose_commit(core: HostCore, caller: Caller, req: wire.ProposeCommit) -> wire.ProposalResult:
    data = _decode(req.bundle)

    def check() -> Incoming:
        incoming = received(core.layout.meta, data, _no_self_removal(caller.name))
        why = self_commit_refusal(caller.name, incoming)
        if why is not None:
            raise ForbiddenError(why)
        return incoming

    incoming = await asyncio.to_thread(check)

    def run() -> wire.ProposalResult:
        repo = MetaRepo(core.layout.meta)
        base = repo.head()
        if base is None or str(base) != incoming.main:
            raise UserError(f"`main` moved while your commit was checked; {FIX}")
        found = proposals.propose_files(
            repo, base, incoming.changes, author=caller.author, description=req.description
        )
        return wire.ProposalResult(proposal_id=found.id, commit=found.commit, description=req.description)

    added = sorted(set(incoming.after.agents) - set(incoming.before.agents))
    async with spawn_quota(core, caller, added):  # agents it adds count against max_spawns_per_day
        result = await asyncio.to_thread(run)
    core.proposals.check()
    log.info("%s proposed #%d from its commit: %s", caller.name, result.proposal_id, req.description[:80])
    return result
