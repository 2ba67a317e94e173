"""The dashboard's log viewer on the nixos runtime: the container's journal, harness unit or whole machine.

There is no NixOS host here, so `nixos-container` and `journalctl` are the
recording stand-in (tests/seams/nixos_container.py) on PATH; the rest is
real: one reconciler pass with the nixos driver (containers created and
started by the stand-in, their settings evaluated by the real
`nix-instantiate`), the dashboard on a real port, Chromium.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hive_web.readers.reconciler import ReconcilerLink
from reconciler.health import AliveHealth
from reconciler.loop import LoopSettings, Reconciler
from reconciler.runtime.nixos import NixosRuntime
from tests.seams import nixos_host
from tests.web.conftest import Served, http, open_dashboard, screenshot, serve, session_headers

pytestmark = pytest.mark.slow


@pytest.fixture
def on_nixos(
    layout: Any, server_loop: asyncio.AbstractEventLoop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Served, Path]]:
    record = nixos_host.install(tmp_path, monkeypatch)
    runtime = NixosRuntime(layout, conf_dir=tmp_path / "conf")

    async def one_pass() -> None:  # the manager's container: created and started
        rec = Reconciler(layout, runtime, health=AliveHealth(runtime, settle=0.05), settings=LoopSettings())
        try:
            await rec.apply_once()
        finally:
            rec.store.close()

    asyncio.run_coroutine_threadsafe(one_pass(), server_loop).result(timeout=120)
    served = serve(layout, server_loop, reconciler=ReconcilerLink(layout, runtime=runtime))
    yield served, record
    served.close()


def journal_calls(record: Path) -> list[list[str]]:
    return [c for c in map(json.loads, record.read_text().splitlines()) if c[0] == "journalctl"]


def test_the_viewer_offers_the_harness_unit_the_machine_and_the_build(
    on_nixos: tuple[Served, Path], page: Any
) -> None:
    served, record = on_nixos
    open_dashboard(page, served, "/#swarm")
    page.click("#swarm-table tr[data-agent=manager] [data-logs]")
    log = page.locator("#viewer pre.log[data-scope=harness]")
    log.wait_for()
    assert "hive-harness[1]: manager: agent system prompt" in log.inner_text()
    picker = page.locator("#viewer select[data-log-scope]")
    assert picker.locator("option").evaluate_all("os => os.map(o => o.value)") == [
        "harness",
        "machine",
        "build",
    ]
    assert journal_calls(record)[-1][:5] == ["journalctl", "-M", "manager", "-u", "hive-harness.service"]

    picker.select_option("machine")
    machine = page.locator("#viewer pre.log[data-scope=machine]")
    machine.wait_for()
    assert "multi-user.target" in machine.inner_text()
    assert "-u" not in journal_calls(record)[-1], "the whole machine: no unit filter"
    screenshot(page, "logs-nixos")

    page.locator("#viewer select[data-log-scope]").select_option("build")
    page.locator("#viewer pre.log[data-scope=build]", has_text="building").wait_for()


def test_only_the_operator_and_only_allow_listed_scopes(on_nixos: tuple[Served, Path]) -> None:
    """The route is the dashboard's (a session or the bearer token), and takes no unit name."""
    served, record = on_nixos
    before = len(journal_calls(record))
    url = f"{served.url}/api/agents/manager/logs"
    anonymous = http("GET", f"{url}?scope=machine")  # what an agent's shell, or any local process, sends
    assert anonymous.status == 401
    for scope in ("sshd.service", "hive-harness.service", "../../etc"):
        refused = http("GET", f"{url}?scope={scope}", headers=session_headers(served))
        assert refused.status == 400, refused.body
        assert "log on the nixos runtime; choose one of: harness, machine, build" in refused.error
    assert len(journal_calls(record)) == before, "nothing reached journalctl"
    capped = http("GET", f"{url}?lines=5001", headers=session_headers(served))
    assert capped.status == 400 and "lines must be a whole number from 1 to 5000" in capped.error
    ok = http("GET", f"{url}?lines=5000&scope=machine", headers=session_headers(served))
    assert (
        ok.status == 200
        and ok.body["scope"] == "machine"
        and ok.body["scopes"] == ["harness", "machine", "build"]
    )
    assert journal_calls(record)[-1] == [
        "journalctl",
        "-M",
        "manager",
        "-n",
        "5000",
        "--no-pager",
        "--output=short-iso",
    ]
