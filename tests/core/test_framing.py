"""Line framing is independent of how the bytes are chunked, and over-long lines cost one error each."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from hive_core.server import TOO_LONG, LineSplitter

LIMIT = 64


def reference(stream: bytes) -> list[object]:
    """What the reader must yield: every complete line, or TOO_LONG for one over the limit."""
    *lines, _partial = stream.split(b"\n")
    return [TOO_LONG if len(line) > LIMIT else line for line in lines]


def read_all(chunks: list[bytes]) -> list[object]:
    """Feed the chunks one by one (as data_received does), taking every line available after each."""
    lines = LineSplitter(limit=LIMIT)
    out: list[object] = []
    for chunk in chunks:
        lines.feed(chunk)
        while (line := lines.next()) is not None:
            out.append(line)
    return out


def chunked(stream: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(stream), *(c % (len(stream) + 1) for c in cuts)})
    return [stream[a:b] for a, b in itertools.pairwise(points) if b > a]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.binary(max_size=3 * LIMIT).map(lambda b: b.replace(b"\n", b"")), max_size=8),
    st.lists(st.integers(min_value=0, max_value=10_000), max_size=20),
)
def test_any_chunking_yields_the_same_lines(lines: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(line + b"\n" for line in lines)
    assert read_all(chunked(stream, cuts)) == reference(stream)
