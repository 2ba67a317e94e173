"""The state-file viewer reads only inside an agent's state dir, and at most 1 MiB."""

from __future__ import annotations

import os
from urllib.parse import quote

import pytest

from hive_web.views.statefiles import MAX_READ
from tests.web.conftest import Served, http


@pytest.fixture
def state(dashboard: Served) -> Served:
    base = dashboard.layout.agent_state("manager")
    (base / "notes").mkdir(parents=True)
    (base / "notes" / "todo.md").write_text("- ship the dashboard\n")
    (base / "big.log").write_bytes(b"y" * (MAX_READ + 10))
    secret = dashboard.layout.root / "secrets.env"
    secret.write_text("ANTHROPIC_API_KEY=sk-secret\n")
    os.symlink(secret, base / "escape")
    os.symlink(base / "notes" / "todo.md", base / "inside")
    return dashboard


def get(served: Served, agent: str, path: str) -> object:
    return http("GET", f"{served.url}/api/state-file?agent={quote(agent)}&path={quote(path)}")


def test_reads_files_and_lists_dirs(state: Served) -> None:
    reply = get(state, "manager", "notes/todo.md")
    assert reply.status == 200  # type: ignore[attr-defined]
    assert reply.body["text"] == "- ship the dashboard\n"  # type: ignore[attr-defined]
    listing = get(state, "manager", "").body  # type: ignore[attr-defined]
    assert {e["name"] for e in listing["entries"]} >= {"notes", "big.log"}
    assert get(state, "manager", "inside").body["text"].startswith("- ship")  # type: ignore[attr-defined]


def test_reads_stop_at_one_mebibyte(state: Served) -> None:
    body = get(state, "manager", "big.log").body  # type: ignore[attr-defined]
    assert body["truncated"] is True
    assert len(body["text"]) == MAX_READ


@pytest.mark.parametrize(
    ("agent", "path", "status", "words"),
    [
        ("manager", "../../secrets.env", 403, "contains '..'"),
        ("manager", "notes/../../../secrets.env", 403, "contains '..'"),
        ("manager", "/etc/passwd", 403, "is absolute"),
        ("manager", "escape", 403, "leads outside"),
        ("manager", "nope.txt", 404, "does not exist"),
        ("ghost", "x", 404, "no state dir"),
        ("Bad..Name", "x", 400, "Bad..Name"),
        ("", "x", 400, "pass ?agent="),
        ("../manager", "x", 400, "pass ?agent="),
    ],
)
def test_refusals(state: Served, agent: str, path: str, status: int, words: str) -> None:
    reply = get(state, agent, path)
    assert reply.status == status, reply.body  # type: ignore[attr-defined]
    assert words in reply.error  # type: ignore[attr-defined]
    assert "sk-secret" not in str(reply.body)  # type: ignore[attr-defined]
