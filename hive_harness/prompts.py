"""What claude is told: the role's system prompt and each turn's wake prompt (pure text).

The system prompt is `system_prompts/agent.md` or `system_prompts/manager.md`
(package data of `hive_harness`, read with `importlib.resources`, so a wheel
install has them; ``HIVE_PROMPTS_DIR`` names another directory) with the
agent's name, the operator's pronouns and its extra MCP servers filled in.
The wake prompt lists the messages that woke the turn, oldest first, with
sender, message id (to reply with ``in_reply_to``), thread and body, so the
model can answer without calling ``recv`` first.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from hive_harness.command import HarnessConfigError
from hive_kit.launch import AgentLaunchConfig
from hive_kit.names import Role
from hive_kit.wire import MAX_RECV, Message

log = logging.getLogger(__name__)

PROMPTS_ENV = "HIVE_PROMPTS_DIR"
PACKAGED_PROMPTS = "system_prompts"
RESTART_NOTE = (
    "harness restarted at {at}. Your notes live in the state dir (/state/notes.md); "
    "your claude session is intact (--continue). Check get_open_threads() if you were in the middle "
    "of something."
)


def prompts_dir() -> Path | None:
    """The operator's override directory, or None for the prompts shipped with the package."""
    override = os.environ.get(PROMPTS_ENV)
    return Path(override) if override else None


def render_system_prompt(template: str, launch: AgentLaunchConfig) -> str:
    extras = ""
    if launch.extra_mcp_servers:
        keys = ", ".join(f"`{k}`" for k in sorted(launch.extra_mcp_servers))
        extras = (
            f"\nYou also have extra MCP servers ({keys}); their tools appear as `mcp__<server>__<tool>`.\n"
        )
    if launch.allowed_recipients:
        allowed = ", ".join(sorted({*launch.allowed_recipients, "manager"}))
        extras += f"\nYou may send only to: {allowed}.\n"
    return (
        template.replace("{{name}}", launch.name)
        .replace("{{operator_pronouns}}", launch.operator_pronouns)
        .replace("{{extra_tools}}", extras)
    )


def load_system_prompt(launch: AgentLaunchConfig, directory: Path | None = None) -> str:
    role = Role.MANAGER if launch.role is Role.MANAGER else Role.AGENT
    directory = directory or prompts_dir()
    if directory is not None:
        source: Traversable = directory / f"{role}.md"
        fix = f"put {role}.md there, or unset {PROMPTS_ENV} to use the prompts shipped with hyperhive"
    else:
        source = resources.files("hive_harness").joinpath(PACKAGED_PROMPTS, f"{role}.md")
        fix = f"the hyperhive install is incomplete: reinstall it, or set {PROMPTS_ENV} to a directory"
    try:
        template = source.read_text()
    except OSError as exc:
        raise HarnessConfigError(
            f"cannot read the {role} system prompt {source}: {exc.strerror or exc}; {fix}"
        ) from exc
    log.info("%s: %s system prompt from %s", launch.name, role, source)
    return render_system_prompt(template, launch)


def restart_note(now: float | None = None) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(time.time() if now is None else now))
    return RESTART_NOTE.format(at=stamp)


@dataclass(frozen=True)
class Wake:
    """Why a turn runs: broker messages, or the operator typing on the agent page."""

    prompt: str
    wake_from: str
    message_ids: tuple[int, ...] = ()


def _thread(message: Message) -> str:
    return f", in reply to #{message.in_reply_to}" if message.in_reply_to is not None else ""


def wake_prompt(messages: Sequence[Message]) -> Wake:
    """The prompt for a turn woken by `messages` (non-empty, oldest first)."""
    count = len(messages)
    lines = [f"You have {count} unread message{'s' if count != 1 else ''}:"]
    for message in messages:
        when = time.strftime("%H:%M:%S", time.gmtime(message.sent_at))
        lines.append("")
        lines.append(f"--- #{message.id} from {message.sender} at {when} UTC{_thread(message)} ---")
        lines.append(message.body)
    lines.append("")
    if count >= MAX_RECV:
        lines.append("More may be waiting: call recv to read them.")
    lines.append("Reply with send (in_reply_to=<id> keeps the thread) when a reply is useful.")
    senders = ",".join(dict.fromkeys(m.sender for m in messages))
    return Wake("\n".join(lines), senders, tuple(m.id for m in messages))


def operator_prompt(text: str) -> Wake:
    """The operator typed on this agent's own page (not through the broker)."""
    prompt = f"The operator writes to you directly from your agent page:\n\n{text}"
    return Wake(prompt, "operator (agent page)")
