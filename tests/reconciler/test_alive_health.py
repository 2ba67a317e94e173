"""``AliveHealth`` (the health gate where nobody hears hellos) waits its slice between looks.

It used to answer "not yet" at once, so the health gate polled ``runtime.list()`` in a loop that
never suspended when ``list`` itself does not (the kubernetes runtime reads a watch-fed cache).
The watch then never ran, the pod never looked running, and every create failed its gate after
the whole timeout (found by bench/k8s_node_bench.py). The runtime here is a stand-in for exactly
that shape: ``list`` answers from memory, and what it answers changes only when another task on
the loop gets to run (as the watch does). No Kubernetes is needed to show the starvation.
"""

from __future__ import annotations

import asyncio
import time

from hive_kit.paths import StateLayout
from reconciler.act import Context, health_gate
from reconciler.events import MemorySink
from reconciler.health import AliveHealth, NoSockets
from reconciler.model import ContainerState, Observed


class CachedRuntime:
    """``list`` from memory, never suspending; a separate task flips the agent to running."""

    kind = "cached"

    def __init__(self) -> None:
        self.state = ContainerState.STARTING

    async def list(self) -> dict[str, Observed]:
        return {"alpha": Observed("alpha", self.state)}

    async def watch(self) -> None:
        await asyncio.sleep(0.05)
        self.state = ContainerState.RUNNING


async def test_the_health_gate_lets_the_loop_run_while_it_waits(tmp_path) -> None:  # type: ignore[no-untyped-def]
    runtime = CachedRuntime()
    watcher = asyncio.create_task(runtime.watch())
    ctx = Context(
        StateLayout(tmp_path),
        runtime,
        None,
        AliveHealth(runtime, settle=0.0),
        NoSockets(),
        MemorySink(),
        5.0,  # type: ignore[arg-type]
    )
    await health_gate(ctx, "alpha", time.time())  # raised HealthGateFailed after 5 s before the fix
    assert watcher.done()
