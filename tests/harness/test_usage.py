"""The turn_usage report built from a turn's stream-json (pure: no processes, no host)."""

from __future__ import annotations

from hive_harness.streamjson import TurnAccumulator
from hive_harness.usage import turn_usage
from hive_kit.wire import MAX_TURN_COST_USD, MAX_TURN_TOKENS


def _result(**extra: object) -> dict[str, object]:
    usage = {"input_tokens": 300, "output_tokens": 20, "cache_read_input_tokens": 50}
    return {"type": "result", "is_error": False, "usage": usage, **extra}


def _report(*events: dict[str, object]):  # type: ignore[no-untyped-def]
    acc = TurnAccumulator()
    acc.feed({"type": "system", "subtype": "init", "model": "claude-sonnet-4-5", "session_id": "s"})
    for event in events:
        acc.feed(event)
    return turn_usage(acc.outcome(), model="sonnet", turn_id="t1", started=100.0, ended=102.5)


def test_model_usage_gives_one_part_per_model_the_turns_own_model_first() -> None:
    report = _report(
        _result(
            total_cost_usd=0.31,
            modelUsage={
                "claude-haiku-4-5": {"inputTokens": 40, "outputTokens": 5, "costUSD": 0.01},
                "claude-sonnet-4-5": {
                    "inputTokens": 260,
                    "outputTokens": 15,
                    "cacheReadInputTokens": 50,
                    "cacheCreationInputTokens": 7,
                    "costUSD": 0.30,
                },
            },
        )
    )
    assert [m.model for m in report.models] == ["claude-sonnet-4-5", "claude-haiku-4-5"]
    main = report.models[0]
    assert (main.input_tokens, main.cache_read_tokens, main.cache_creation_tokens, main.cost_usd) == (
        260,
        50,
        7,
        0.30,
    )
    assert report.duration_ms == 2500 and report.result_kind == "ok"


def test_without_model_usage_the_totals_go_under_the_turns_model() -> None:
    report = _report(_result(total_cost_usd=0.2))
    [only] = report.models
    assert (only.model, only.input_tokens, only.output_tokens, only.cost_usd) == (
        "claude-sonnet-4-5",
        300,
        20,
        0.2,
    )


def test_no_reported_cost_is_none_so_the_host_prices_it() -> None:
    assert _report(_result()).models[0].cost_usd is None
    killed = _report()  # no result event at all: claude was killed mid-turn
    assert killed.models[0].cost_usd is None and killed.result_kind == "failed"
    odd = _report(_result(total_cost_usd=0.2, modelUsage={"m": {"inputTokens": 1, "costUSD": "free"}}))
    assert odd.models[0].cost_usd is None


def test_absurd_numbers_are_clamped_into_the_wires_bounds() -> None:
    report = _report(
        _result(total_cost_usd=-3, modelUsage={"x y\x1b": {"inputTokens": 10**15, "outputTokens": -4}})
    )
    [part] = report.models
    assert part.model == "xy" and part.input_tokens == MAX_TURN_TOKENS and part.output_tokens == 0
    assert part.cost_usd is None  # the model's entry has no costUSD
    assert _report(_result(total_cost_usd=-3)).models[0].cost_usd == 0.0
    assert _report(_result(total_cost_usd=1e12)).models[0].cost_usd == MAX_TURN_COST_USD
