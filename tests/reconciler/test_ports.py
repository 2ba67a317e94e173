"""Web ports: sticky, unique, and never one another process already listens on."""

from __future__ import annotations

import socket
from pathlib import Path

from reconciler.store import MANAGER_PORT, open_deploys


def test_a_port_held_by_another_process_is_skipped(tmp_path: Path) -> None:
    store = open_deploys(tmp_path / "deploys.sqlite")
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            squatter.bind(("127.0.0.1", MANAGER_PORT))
            squatter.listen()
        except OSError:
            pass  # something else already holds it, which is the same situation
        port = store.assign_port("manager", is_manager=True)
    assert port != MANAGER_PORT
    assert store.assign_port("manager", is_manager=True) == port, "sticky once given"
    assert store.assign_port("coder") not in (port,)
