"""Budgets (issue 14 item 4): the host grants no turn to an agent whose spend today reached its budget.

The budget is desired state (``agents/<name>.json`` ``budget``, else ``hive.json`` ``budget``); the
spend is the host's own ledger (``hive_core.ledger``), which the agent cannot edit. Both are read at
each turn-slot request, so a budget raised by a commit lets the next request through without a
restart. "Today" is the UTC day, as in ``hive costs``.
"""

from __future__ import annotations

from desired.schema import Budget, DesiredState
from hive_core.ledger import TOKEN_KINDS, Bucket, Ledger, day_start, utc_day

PAUSED = "paused: budget"


def tokens_of(bucket: Bucket) -> int:
    return sum(int(getattr(bucket, kind)) for kind in TOKEN_KINDS)


def budget_refusal(
    state: DesiredState, ledger: Ledger, agent: str, now: float, *, resumed: bool = False
) -> str | None:
    """Why ``agent`` may not start a turn now (spend and budget, and the fix), or None.

    ``resumed``: the operator resumed it for today (``BudgetHolds.resumed(agent, utc_day(now))``).
    """
    if agent not in state.agents or resumed:
        return None
    budget = state.budget_for(agent)
    if budget is None or (budget.usd_per_day is None and budget.tokens_per_day is None):
        return None
    today = utc_day(now)
    spent = ledger.spend(agent, since=day_start(today))
    return _over(agent, budget, spent, today, own=state.agents[agent].budget is not None)


def _over(agent: str, budget: Budget, spent: Bucket, today: str, *, own: bool) -> str | None:
    where = f"agents/{agent}.json `budget`" if own else "hive.json `budget`"
    fix = f"it resumes at 00:00 UTC, or raise {where}"
    if budget.usd_per_day is not None and spent.cost_usd >= budget.usd_per_day:
        return (
            f"{PAUSED}: {agent} spent ${spent.cost_usd:.4f} on {today} (UTC), its budget is "
            f"${budget.usd_per_day:.4f} a day ({where}); its mail waits. {fix}"
        )
    tokens = tokens_of(spent)
    if budget.tokens_per_day is not None and tokens >= budget.tokens_per_day:
        return (
            f"{PAUSED}: {agent} used {tokens} tokens on {today} (UTC), its budget is "
            f"{budget.tokens_per_day} a day ({where}); its mail waits. {fix}"
        )
    return None
