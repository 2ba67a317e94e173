"""Where everything lives under the state dir (default `./.hive`, NixOS `/var/lib/hyperhive`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_STATE_DIR = Path(".hive")
STATE_DIR_ENV = "HIVE_STATE_DIR"


@dataclass(frozen=True)
class StateLayout:
    root: Path

    @classmethod
    def resolve(cls, state_dir: Path | None = None) -> StateLayout:
        if state_dir is None:
            env = os.environ.get(STATE_DIR_ENV)
            state_dir = Path(env) if env else DEFAULT_STATE_DIR
        return cls(state_dir.expanduser().absolute())

    @property
    def meta(self) -> Path:
        return self.root / "meta.git"

    @property
    def db(self) -> Path:
        return self.root / "hive.sqlite"

    @property
    def ledger(self) -> Path:
        """The host's cost ledger (``hive_core.ledger``): kept for good, never under an agent's dir."""
        return self.root / "ledger.sqlite"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def admin_socket(self) -> Path:
        return self.run / "admin.sock"

    @property
    def manager_socket(self) -> Path:
        return self.run / "manager" / "hive.sock"

    def agent_socket(self, name: str) -> Path:
        return self.run / "agents" / name / "hive.sock"

    def agent_dir(self, name: str) -> Path:
        return self.root / "agents" / name

    def agent_state(self, name: str) -> Path:
        return self.agent_dir(name) / "state"

    def agent_build(self, name: str) -> Path:
        return self.agent_dir(name) / "build"

    def run_dir_for(self, name: str, *, is_manager: bool) -> Path:
        """The agent's socket directory on the host, bound at ``/run/hive`` in its sandbox.

        It holds ``hive.sock`` (the wire) and ``egress.sock`` (the egress proxy), both
        served by the daemon, and ``page/page.sock``, which the agent's harness serves.
        """
        return self.socket_for(name, is_manager=is_manager).parent

    def egress_socket_for(self, name: str, *, is_manager: bool) -> Path:
        return self.run_dir_for(name, is_manager=is_manager) / "egress.sock"

    def model_socket_for(self, name: str, *, is_manager: bool) -> Path:
        """The host's model-API gateway for this agent (``hive_core.gateway``)."""
        return self.run_dir_for(name, is_manager=is_manager) / "model.sock"

    def page_socket_for(self, name: str, *, is_manager: bool) -> Path:
        return self.run_dir_for(name, is_manager=is_manager) / "page" / "page.sock"

    def socket_for(self, name: str, *, is_manager: bool) -> Path:
        """The host end of an agent's socket.

        The manager's is `run/manager/hive.sock`; every other agent's is
        `run/agents/<name>/hive.sock`. One directory per socket because the
        sandbox bind-mounts the *directory* at `/run/hive`: a socket the daemon
        re-creates after a restart is a new inode, which a bind of the file
        itself would never show to the agent.
        """
        return self.manager_socket if is_manager else self.agent_socket(name)

    def page_token_for(self, name: str) -> Path:
        """The agent page token of an agent in a pod (0600, dir 0700; ``hive_kit.pagetoken``): the
        dashboard shows it to the pod's harness; the pod holds only its digest."""
        return self.root / "secrets" / "page-tokens" / name

    @property
    def secrets(self) -> Path:
        """0600 file of KEY=value lines (ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL) passed to every agent."""
        return self.root / "secrets.env"
