"""System and wake prompts (pure text)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hive_harness.command import HarnessConfigError
from hive_harness.prompts import load_system_prompt, operator_prompt, wake_prompt
from hive_kit.launch import AgentLaunchConfig, LaunchMcpServer
from hive_kit.wire import Message


def _msg(i: int, sender: str, body: str, reply: int | None = None) -> Message:
    return Message(
        id=i, sender=sender, recipient="coder", body=body, in_reply_to=reply, sent_at=1_700_000_000 + i
    )


def test_wake_prompt_names_sender_id_thread_body_and_count() -> None:
    wake = wake_prompt([_msg(7, "manager", "please review PR 3"), _msg(9, "alice", "done?", reply=4)])
    assert wake.prompt.startswith("You have 2 unread messages:")
    assert "#7 from manager" in wake.prompt and "please review PR 3" in wake.prompt
    assert "#9 from alice" in wake.prompt and "in reply to #4" in wake.prompt
    assert wake.message_ids == (7, 9)
    assert wake.wake_from == "manager,alice"


def test_one_message_is_singular_and_the_operator_prompt_is_not_acked() -> None:
    assert wake_prompt([_msg(1, "system", "x")]).prompt.startswith("You have 1 unread message:")
    direct = operator_prompt("stop what you are doing")
    assert direct.message_ids == () and "stop what you are doing" in direct.prompt


def test_system_prompts_fill_name_pronouns_and_extras() -> None:
    agent = AgentLaunchConfig(
        name="coder",
        role="agent",
        model="haiku",
        operator_pronouns="she/her",
        allowed_recipients=["alice"],
        extra_mcp_servers={"matrix": LaunchMcpServer(command="mx")},
    )
    text = load_system_prompt(agent)
    assert "You are coder" in text and "she/her" in text
    assert "`matrix`" in text and "alice, manager" in text
    assert "{{" not in text
    assert "recv(wait_seconds=180)" in text and "sleep" in text
    manager = load_system_prompt(AgentLaunchConfig(name="boss", role="manager", model="opus"))
    assert "manager of a hyperhive swarm" in manager and "propose" in manager and "{{" not in manager


def test_a_missing_prompts_dir_says_how_to_fix_it(tmp_path: Path) -> None:
    with pytest.raises(HarnessConfigError, match="HIVE_PROMPTS_DIR"):
        load_system_prompt(AgentLaunchConfig(name="a", role="agent", model="m"), tmp_path)


def test_hive_prompts_dir_replaces_the_packaged_prompts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "agent.md").write_text("house rules for {{name}}")
    monkeypatch.setenv("HIVE_PROMPTS_DIR", str(tmp_path))
    assert load_system_prompt(AgentLaunchConfig(name="a", role="agent", model="m")) == "house rules for a"
    with pytest.raises(
        HarnessConfigError, match=r"manager system prompt .*manager\.md.*put manager\.md there"
    ):
        load_system_prompt(AgentLaunchConfig(name="boss", role="manager", model="m"))


def test_the_manager_prompt_names_every_manager_tool_and_teaches_read_before_propose() -> None:
    from hive_harness.mcp_manager import MANAGER_TOOLS

    prompt = load_system_prompt(AgentLaunchConfig(name="boss", role="manager", model="haiku"))
    missing = [fn.__name__ for fn, _ in MANAGER_TOOLS if f"`{fn.__name__}(" not in prompt]
    assert missing == [], f"manager.md does not teach: {missing}"
    assert "Read before you propose" in prompt and "/state/meta" in prompt
