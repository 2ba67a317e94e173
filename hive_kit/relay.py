"""Relaying bytes between two streams: the one pump the egress proxy and its in-sandbox forwarder share."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

CHUNK = 256 * 1024  # 64 KiB cost 40% more CPU per MB through the proxy (bench/egress_bench.py)


async def pipe(
    src: asyncio.StreamReader, dst: asyncio.StreamWriter, counted: Callable[[int], None] | None = None
) -> None:
    """Copy ``src`` to ``dst`` until ``src`` ends (telling ``counted`` each chunk's size), then
    half-close ``dst`` so the other side sees the end too. A reset on either side just ends it."""
    try:
        while chunk := await src.read(CHUNK):
            dst.write(chunk)
            if counted is not None:
                counted(len(chunk))
            await dst.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            if dst.can_write_eof():
                dst.write_eof()
