"""The harness's runtime state: where its files live, and the state machine the agent page shows.

Everything durable is in the agent's state dir (it survives restarts and
rebuilds): the event history, the turn stats, the runtime model override,
the claude home (HOME=<state>/home, so credentials are per agent), the
rendered MCP config. Every change of status, turn state, model or token use
is published on the event bus, so the page never polls.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from hive_harness.command import parse_secrets
from hive_harness.events import EventBus
from hive_harness.streamjson import TokenUsage
from hive_kit.launch import AgentLaunchConfig


class Status(StrEnum):
    """Login status (upstream's status_changed)."""

    STARTING = "starting"
    ONLINE = "online"
    NEEDS_LOGIN = "needs_login"
    LOGGING_IN = "logging_in"


class TurnState(StrEnum):
    IDLE = "idle"
    QUEUED = "queued"  # waiting for a swarm turn slot (hive.json max_concurrent_turns)
    PAUSED_BUDGET = "paused: budget"  # the host grants no turn: today's spend reached the budget
    THINKING = "thinking"
    COMPACTING = "compacting"
    CANCELLING = "cancelling"


@dataclass(frozen=True)
class StatePaths:
    root: Path

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def events_db(self) -> Path:
        return self.root / "events.sqlite"

    @property
    def stats_db(self) -> Path:
        return self.root / "turn-stats.sqlite"

    @property
    def model_override(self) -> Path:
        return self.root / "model-override"

    @property
    def mcp_config(self) -> Path:
        return self.root / ".hive" / "mcp-config.json"

    @property
    def secrets(self) -> Path:
        """0600 KEY=value file the operator may drop in (ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL)."""
        return self.root / "secrets.env"

    def read_secrets(self) -> dict[str, str]:
        try:
            return parse_secrets(self.secrets.read_text())
        except OSError:
            return {}


class Runtime:
    """Status, turn state, model and usage, each change published once."""

    def __init__(self, launch: AgentLaunchConfig, paths: StatePaths, bus: EventBus) -> None:
        self.launch = launch
        self.paths = paths
        self.bus = bus
        self.status = Status.STARTING
        self.turn_state = TurnState.IDLE
        self.new_session_pending = False
        self.usage = TokenUsage()
        self.context_tokens = 0
        self.last_turn: dict[str, Any] | None = None
        self.current_wake: str | None = None

    @property
    def model(self) -> str:
        override = self.model_override
        return override or self.launch.model

    @property
    def model_override(self) -> str | None:
        try:
            text = self.paths.model_override.read_text().strip()
        except OSError:
            return None
        return text or None

    def set_model(self, model: str | None) -> str:
        """Persist (or with None/"" clear) the runtime override; takes effect on the next turn."""
        if model and model.strip():
            self.paths.model_override.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.paths.model_override.with_suffix(".tmp")
            tmp.write_text(model.strip() + "\n")
            os.replace(tmp, self.paths.model_override)
        else:
            with contextlib.suppress(FileNotFoundError):
                self.paths.model_override.unlink()
        self.bus.publish(
            "model_changed", model=self.model, override=self.model_override, desired=self.launch.model
        )
        return self.model

    def set_status(self, status: Status, detail: str = "") -> None:
        if status is self.status and not detail:
            return
        self.status = status
        self.bus.publish("status_changed", status=status.value, detail=detail)

    def set_turn_state(self, state: TurnState, wake_from: str | None = None) -> None:
        self.turn_state = state
        self.current_wake = wake_from if state is not TurnState.IDLE else None
        self.bus.publish("turn_state_changed", state=state.value, wake_from=self.current_wake)

    def set_usage(self, total: TokenUsage, last_call: TokenUsage) -> None:
        self.usage = total
        if last_call.context:
            self.context_tokens = last_call.context
        self.bus.publish("token_usage_changed", context_tokens=self.context_tokens, **total.as_dict())

    def note(self, text: str) -> None:
        self.bus.publish("note", text=text)

    def snapshot(self) -> dict[str, Any]:
        return {
            "name": self.launch.name,
            "role": self.launch.role,
            "status": self.status.value,
            "turn_state": self.turn_state.value,
            "wake_from": self.current_wake,
            "model": self.model,
            "model_override": self.model_override,
            "desired_model": self.launch.model,
            "new_session_pending": self.new_session_pending,
            "context_tokens": self.context_tokens,
            "usage": self.usage.as_dict(),
            "last_turn": self.last_turn,
            "revision": self.launch.revision,
        }
