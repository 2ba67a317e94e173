"""The state-file viewer: notes, markdown and logs inside an agent's state dir, nothing else.

Never credentials (claude's ``home/``), the MCP config with its bearer token
(``.hive/mcp-config.json``), ``secrets.env``, sqlite files or anything under a
dot-directory, and no symlink, hard link or FIFO that leads there. Each
refusal is a 403 naming its rule.
"""

from __future__ import annotations

import os
from urllib.parse import quote

import pytest

from hive_web.views.statefiles import MAX_READ
from tests.web.conftest import Reply, Served, http, session_headers

CREDENTIALS = '{"claudeAiOauth": {"accessToken": "sk-ant-oat-SECRET"}}'
MCP_CONFIG = '{"mcpServers": {"hyperhive": {"headers": {"Authorization": "Bearer mcp-SECRET"}}}}'


@pytest.fixture
def state(dashboard: Served) -> Served:
    base = dashboard.layout.agent_state("manager")
    (base / "notes").mkdir(parents=True)
    (base / "notes.md").write_text("# notes\nremember the flaky test\n")
    (base / "notes" / "todo.md").write_text("- ship the dashboard\n")
    (base / "big.log").write_bytes(b"y" * (MAX_READ + 10))
    (base / "agent.log.1").write_text("yesterday\n")
    (base / "home" / ".claude").mkdir(parents=True)
    (base / "home" / ".claude" / ".credentials.json").write_text(CREDENTIALS)
    (base / "home" / ".claude" / "CLAUDE.md").write_text("# home notes SECRET\n")
    (base / "home" / "readme.md").write_text("SECRET too\n")
    (base / ".hive").mkdir()
    (base / ".hive" / "mcp-config.json").write_text(MCP_CONFIG)
    (base / ".hive" / "notes.md").write_text("SECRET notes under a dot-dir\n")
    (base / "secrets.env").write_text("ANTHROPIC_API_KEY=sk-SECRET\n")
    (base / "events.sqlite").write_bytes(b"SQLite format 3\x00SECRET")
    (base / "config.json").write_text('{"SECRET": 1}')
    outside = dashboard.layout.root / "secrets.env"
    outside.write_text("ANTHROPIC_API_KEY=sk-host-SECRET\n")
    os.symlink(outside, base / "escape.md")
    os.symlink(base / "home" / ".claude" / ".credentials.json", base / "creds.md")
    os.symlink(".hive/mcp-config.json", base / "mcp.txt")
    os.symlink("secrets.env", base / "env.log")
    os.symlink("home/.claude", base / "docs")  # a directory link into claude's home
    os.symlink("notes/todo.md", base / "todo-link.md")
    os.link(base / ".hive" / "mcp-config.json", base / "hard.md")
    os.mkfifo(base / "pipe.log")
    return dashboard


def get(served: Served, agent: str, path: str) -> Reply:
    url = f"{served.url}/api/state-file?agent={quote(agent)}&path={quote(path)}"
    return http("GET", url, headers=session_headers(served))


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("notes.md", "# notes\nremember the flaky test\n"),
        ("notes/todo.md", "- ship the dashboard\n"),
        ("agent.log.1", "yesterday\n"),
        ("todo-link.md", "- ship the dashboard\n"),  # a symlink that stays on the allow-list
    ],
)
def test_serves_notes_markdown_and_logs(state: Served, path: str, text: str) -> None:
    reply = get(state, "manager", path)
    assert reply.status == 200, reply.body
    assert reply.body["text"] == text


def test_listings_mark_what_is_never_shown(state: Served) -> None:
    listing = get(state, "manager", "").body
    entries = {e["name"]: e for e in listing["entries"]}
    assert entries["notes"]["refused"] is None and entries["notes.md"]["refused"] is None
    assert "claude's home" in entries["home"]["refused"]
    assert "dot-file or dot-directory" in entries[".hive"]["refused"]
    assert "secret" in entries["secrets.env"]["refused"]
    assert "sqlite" in entries["events.sqlite"]["refused"]
    assert "SECRET" not in str(listing)


def test_reads_stop_at_one_mebibyte(state: Served) -> None:
    body = get(state, "manager", "big.log").body
    assert body["truncated"] is True
    assert len(body["text"]) == MAX_READ


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("home/.claude/.credentials.json", "claude's home"),
        ("home/.claude/CLAUDE.md", "claude's home"),
        ("home/readme.md", "claude's home"),
        ("home", "claude's home"),
        (".hive/mcp-config.json", "dot-file or dot-directory"),
        (".hive/notes.md", "dot-file or dot-directory"),
        (".hive", "dot-file or dot-directory"),
        ("secrets.env", "named like a secret"),
        ("events.sqlite", "sqlite file"),
        ("config.json", "only notes, markdown and logs"),
        ("creds.md", "symlink to 'home/.claude/.credentials.json', which is refused: claude's home"),
        ("mcp.txt", "symlink to '.hive/mcp-config.json', which is refused: '.hive' is a dot-file"),
        ("env.log", "symlink to 'secrets.env', which is refused"),
        ("docs/CLAUDE.md", "symlink to 'home/.claude/CLAUDE.md', which is refused: claude's home"),
        ("docs/.credentials.json", "dot-file or dot-directory"),
        ("escape.md", "leads outside"),
        ("hard.md", "other hard links"),
        ("pipe.log", "not a regular file"),
        ("../../secrets.env", "contains '..'"),
        ("notes/../../../secrets.env", "contains '..'"),
        ("/etc/passwd", "is absolute"),
    ],
)
def test_refusals_name_their_rule_and_show_nothing(state: Served, path: str, words: str) -> None:
    reply = get(state, "manager", path)
    assert reply.status == 403, reply.body
    assert words in reply.error
    assert "SECRET" not in str(reply.body)


@pytest.mark.parametrize(
    ("agent", "path", "status", "words"),
    [
        ("manager", "nope.txt", 404, "does not exist"),
        ("ghost", "x.md", 404, "no state dir"),
        ("Bad..Name", "x", 400, "Bad..Name"),
        ("", "x", 400, "pass ?agent="),
        ("../manager", "x", 400, "pass ?agent="),
    ],
)
def test_other_refusals(state: Served, agent: str, path: str, status: int, words: str) -> None:
    reply = get(state, agent, path)
    assert reply.status == status, reply.body
    assert words in reply.error
