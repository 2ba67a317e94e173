"""A turn's usage as the ``turn_usage`` report for the host's cost ledger (``hive_core.ledger``).

Pure: built from the turn's outcome. Per model from the CLI's ``modelUsage``
when it gave one (a turn can use two models: the agent's and a small one the
CLI calls for housekeeping), else the turn's totals under its model. The cost
is the CLI's own figure, or None when the CLI reported none (the host then
prices the tokens and marks the row estimated). Values are clamped into the
wire's bounds, so an honest turn is never refused for its size.
"""

from __future__ import annotations

import math
from typing import Any

from hive_harness.streamjson import TurnOutcome
from hive_kit.wire import MAX_TURN_COST_USD, MAX_TURN_TOKENS, ModelUsage, TurnUsage

_KINDS = {
    "input_tokens": "inputTokens",
    "output_tokens": "outputTokens",
    "cache_read_tokens": "cacheReadInputTokens",
    "cache_creation_tokens": "cacheCreationInputTokens",
}


def _tokens(value: Any) -> int:
    return min(MAX_TURN_TOKENS, max(0, int(value))) if isinstance(value, int | float) else 0


def _cost(value: Any) -> float | None:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return None
    return min(MAX_TURN_COST_USD, max(0.0, float(value)))


def _model_id(name: str) -> str:
    clean = "".join(c for c in name if c.isalnum() or c in "._:/@[]-")[:128]
    return clean or "unknown"


def model_usages(outcome: TurnOutcome, model: str) -> list[ModelUsage]:
    if outcome.model_usage:
        out = [
            ModelUsage(
                model=_model_id(name),
                **{ours: _tokens(data.get(theirs)) for ours, theirs in _KINDS.items()},
                cost_usd=_cost(data.get("costUSD")) if outcome.cost_reported else None,
            )
            for name, data in outcome.model_usage.items()
        ]
        out.sort(key=lambda u: (u.model != _model_id(outcome.model or model), -(u.cost_usd or 0)))
        return out[:8]
    u = outcome.usage
    return [
        ModelUsage(
            model=_model_id(outcome.model or model),
            input_tokens=_tokens(u.input),
            output_tokens=_tokens(u.output),
            cache_read_tokens=_tokens(u.cache_read),
            cache_creation_tokens=_tokens(u.cache_creation),
            cost_usd=_cost(outcome.cost_usd) if outcome.cost_reported else None,
        )
    ]


def turn_usage(outcome: TurnOutcome, *, model: str, turn_id: str, started: float, ended: float) -> TurnUsage:
    return TurnUsage(
        turn_id=turn_id,
        models=model_usages(outcome, model),
        started_at=max(0.0, started),
        duration_ms=min(7 * 86400 * 1000, max(0, int((ended - started) * 1000))),
        tool_calls=min(100_000, outcome.tool_call_count),
        tools={name[:128]: min(100_000, n) for name, n in sorted(outcome.tool_calls.items())[:64]},
        result_kind=outcome.kind.value,
    )
