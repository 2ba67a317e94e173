"""What an agent's harness is told at launch: written by the reconciler, read inside the sandbox.

The reconciler renders one ``AgentLaunchConfig`` per agent into
``<state>/agents/<name>/build/agent.json``; the runtime makes it visible to
the harness at ``/etc/hyperhive/agent.json`` (read-only) and points
``HIVE_AGENT_CONFIG`` at it. On NixOS the same JSON is what
`reconciler/nix/harness-base.nix` reads with ``builtins.fromJSON``. The
harness may import this module (like `wire` and `client`): it is the
contract between the two sides.

Inside the sandbox:

    /state                       the agent's own state dir (read-write); HOME=/state/home
    /run/hive/hive.sock          the agent's socket to the host (identity = this socket)
    /run/hive/egress.sock        the host's egress proxy for this agent (its only way out)
    /run/hive/model.sock         the host's model-API gateway for this agent (it holds the key)
    /run/hive/page/page.sock     the agent page API the harness serves (the dashboard's proxy connects)
    /etc/hyperhive/agent.json    this file
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hive_kit.names import Role

SANDBOX_STATE = "/state"
SANDBOX_HOME = "/state/home"
SANDBOX_RUN = "/run/hive"
SANDBOX_SOCKET = "/run/hive/hive.sock"
SANDBOX_EGRESS = "/run/hive/egress.sock"
SANDBOX_PAGE = "/run/hive/page/page.sock"
SANDBOX_MODEL = "/run/hive/model.sock"
SANDBOX_CONFIG = "/etc/hyperhive/agent.json"
SANDBOX_META = "/meta.git"  # the manager's only: a read-only view of the meta repo (docs/security.md)
SANDBOX_META_CLONE = "meta"  # under /state: the manager's own working clone

ENV_CONFIG = "HIVE_AGENT_CONFIG"
ENV_SOCKET = "HIVE_SOCKET"
ENV_STATE = "HIVE_AGENT_STATE"
ENV_EGRESS = "HIVE_EGRESS_SOCKET"
ENV_PAGE = "HIVE_PAGE_SOCKET"
ENV_MODEL = "HIVE_MODEL_SOCKET"
"""Set by the runtime when the host's gateway holds the model key: the harness then serves it on
loopback and points claude's ANTHROPIC_BASE_URL there, with ``GATEWAY_PLACEHOLDER_KEY``."""
GATEWAY_PLACEHOLDER_KEY = "hyperhive-gateway-holds-the-key"
"""The API key an agent's claude gets behind the gateway: claude needs one to start; the gateway
drops it and sends the host's."""
ENV_META = "HIVE_META"  # where the manager clones and fetches the meta repo from (default SANDBOX_META)


class LaunchMcpServer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    command: str
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    allowed_tools: list[str] = Field(default_factory=lambda: ["*"])


class AgentLaunchConfig(BaseModel):
    """Everything the harness needs to know about its agent, resolved from desired state."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    role: Role
    model: str  # effective model (desired, or the swarm default)
    description: str = ""
    operator_pronouns: str = "they/them"
    allowed_recipients: list[str] = Field(default_factory=list)
    extra_mcp_servers: dict[str, LaunchMcpServer] = Field(default_factory=dict)
    uid: int | None = Field(default=None, ge=1)
    """The agent's own host uid (and gid), allocated by the daemon; None until one is allocated.

    The harness runs as it (never root); on NixOS the container's harness user gets it, and a
    container config without it refuses to build."""
    revision: str = ""  # meta repo revision this config was rendered from
    fingerprint: str = ""  # desired.schema.agent_fingerprint at that revision
    allowed_tools: list[str] | None = (
        None  # claude's built-in tools it may use; None = the harness's default set
    )
    bash_allow: list[str] | None = None  # what Bash may run ("git *"); None = anything, [] = no Bash

    @model_validator(mode="before")
    @classmethod
    def _drop_web_port(cls, data: Any) -> Any:
        """Files written before agent pages moved to ``page.sock`` still read (their port is unused)."""
        if isinstance(data, dict) and "web_port" in data:
            data = {k: v for k, v in data.items() if k != "web_port"}
        return data

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.model_dump(mode="json"), indent=2) + "\n")
        tmp.replace(path)

    @classmethod
    def read(cls, path: Path) -> AgentLaunchConfig:
        return cls.model_validate_json(path.read_bytes())
