"""What a million tokens cost, by model family and token kind: the one price table.

Used only where the claude CLI reported no cost for a turn (an older CLI, a
turn killed before its ``result`` event, a future gateway source that sees
tokens but no price): the ledger then prices the tokens from here and marks
the row ``estimated``. The CLI's own figure always wins when it gave one.

Families are matched by the longest prefix of the model id (``claude-opus-4-5``
before ``claude-opus-4``), so dated ids (``claude-sonnet-4-5-20250929``) and
``-latest`` aliases price like their family. A model no row matches is priced
at the dearest row: an estimate may be high, never silently low. Update the
table when Anthropic's list prices change (https://www.anthropic.com/pricing);
cache writes are the 5-minute kind (1.25 x input), cache reads 0.1 x input.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Price:
    """USD per million tokens."""

    input: float
    output: float
    cache_read: float
    cache_creation: float


def _list(input_usd: float, output_usd: float) -> Price:
    return Price(input_usd, output_usd, round(input_usd * 0.1, 4), round(input_usd * 1.25, 4))


PRICES: dict[str, Price] = {
    "claude-opus-4-5": _list(5.0, 25.0),
    "claude-opus-4-1": _list(15.0, 75.0),
    "claude-opus-4": _list(15.0, 75.0),
    "claude-3-opus": _list(15.0, 75.0),
    "claude-sonnet-4": _list(3.0, 15.0),
    "claude-3-7-sonnet": _list(3.0, 15.0),
    "claude-3-5-sonnet": _list(3.0, 15.0),
    "claude-haiku-4": _list(1.0, 5.0),
    "claude-3-5-haiku": _list(0.8, 4.0),
    "claude-3-haiku": _list(0.25, 1.25),
    # the CLI's aliases (`--model opus`), as an agent's config may name them
    "opus": _list(5.0, 25.0),
    "sonnet": _list(3.0, 15.0),
    "haiku": _list(1.0, 5.0),
}
DEAREST = max(PRICES.values(), key=lambda p: p.output)


def price_for(model: str) -> Price:
    """The row of the longest family prefix of ``model``; the dearest row if none matches."""
    model = model.strip().lower()
    best = ""
    for family in PRICES:
        if model.startswith(family) and len(family) > len(best):
            best = family
    return PRICES[best] if best else DEAREST


def estimate_usd(model: str, *, input: int, output: int, cache_read: int, cache_creation: int) -> float:
    """The list price of these tokens for ``model``, in USD."""
    p = price_for(model)
    micro = (
        input * p.input + output * p.output + cache_read * p.cache_read + cache_creation * p.cache_creation
    )
    return micro / 1_000_000
