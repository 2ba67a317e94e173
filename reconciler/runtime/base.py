"""The runtime interface: list, create, update, start, stop, destroy, logs (and purge, tidy).

Small on purpose, so a future driver (Kubernetes, say) needs only these
seven verbs. A driver raises ``TemporaryError`` for what a retry may fix and
``PermanentError`` for what it will not (a missing binary, a refused name);
the loop turns those into backoff or ``Stalled``.

What differs between drivers is asked of the driver, never decided by its
name: ``uses_meta_flake`` says whether create/update build from the rendered
meta flake (`nix/`), which the loop then renders for the whole swarm first —
the driver itself still knows nothing of desired state. Drivers are found by
name in ``reconciler.runtime.registry``.

Logs are read the same way: a driver says which ``LogScope``s it has
(``log_scopes``, the allow-list: the dashboard offers exactly those) and
``logs`` refuses any other with a ``UserError``. Nobody names a file or a
systemd unit: the local runtime has one log (the harness's output), the
nixos runtime the harness unit's journal, the container's whole journal and
its own build output. Every read is capped at ``MAX_LOG_LINES``.
"""

from __future__ import annotations

import builtins
import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from hive_kit.errors import UserError
from hive_kit.names import Role
from reconciler.model import Observed

LineSink = Callable[[str], None]
"""Receives a driver's progress output one line at a time (a long build must not look hung)."""

MAX_LOG_LINES = 5000
"""The most lines one ``logs`` call returns, whatever was asked (upstream's journal viewer cap)."""


class LogScope(enum.StrEnum):
    """Which of an agent's logs to read; a driver has some of them (``Runtime.log_scopes``)."""

    HARNESS = "harness"  # what the harness writes: agent.log (local), its unit's journal (nixos)
    MACHINE = "machine"  # everything the agent's machine logs: the container's whole journal (nixos)
    BUILD = "build"  # the driver's own output for the agent: nixos-container create/update (nixos)


def log_scope(value: str, offered: Sequence[LogScope], runtime: str) -> LogScope:
    """``value`` as one of the scopes ``runtime`` offers; a UserError naming them otherwise."""
    if value in offered:
        return LogScope(value)
    choices = ", ".join(scope.value for scope in offered)
    raise UserError(f"no {value!r} log on the {runtime} runtime; choose one of: {choices}")


@dataclass(frozen=True)
class LaunchSpec:
    """Where an agent's pieces are on the host; the rendered files are already in ``build_dir``."""

    name: str
    is_manager: bool
    state_dir: Path  # becomes /state
    build_dir: Path  # holds agent.json (and, for nixos, the rendered Nix)
    socket: Path  # host end of the agent's socket; becomes /run/hive/hive.sock
    log_file: Path
    seeds: Mapping[str, bytes] = field(default_factory=dict, compare=False)
    """The agent's seed files, set for a create; a runtime with ``places_seeds`` puts them in /state."""

    @property
    def role(self) -> Role:
        return Role.MANAGER if self.is_manager else Role.AGENT

    @property
    def config_file(self) -> Path:
        return self.build_dir / "agent.json"


class Runtime(Protocol):
    kind: str  # its name in reconciler.runtime.registry; recorded in the inventory
    uses_meta_flake: bool
    """create/update build `<state>/nix#<name>`: render the meta flake (every agent) before them."""
    insecure_reason: str | None
    places_seeds: bool
    """create places ``spec.seeds`` in the agent's /state itself (kubernetes: a volume the host never
    sees); otherwise the loop writes them into the host's state dir before create (``seeding``)."""
    """Why agents run without their sandbox, if they do (`hive serve --insecure-sandbox`); None when
    every agent is isolated. The dashboard shows it as a banner."""

    async def list(self) -> dict[str, Observed]:
        """Every container this driver can see (hyperhive's and, for nixos, others too)."""
        ...

    async def agent_uid(self, name: str) -> int | None:
        """The host uid (and gid) the agent runs as: allocated once, sticky (``hive_core.identities``).

        Written into the launch config, where the NixOS container's harness user reads it.
        None where the agent does not get one (a local runtime without a sandbox).
        """
        ...

    async def create(self, spec: LaunchSpec, progress: LineSink) -> None: ...

    async def update(self, spec: LaunchSpec, progress: LineSink) -> None:
        """Rebuild in place with the files now in ``spec.build_dir``; a running agent restarts."""
        ...

    async def start(self, spec: LaunchSpec, progress: LineSink) -> None: ...

    async def stop(self, name: str, progress: LineSink) -> None: ...

    async def destroy(self, name: str, progress: LineSink) -> None:
        """Remove the container; the agent's state dir is never touched here."""
        ...

    async def purge(self, name: str, progress: LineSink) -> None:
        """After ``destroy``, when the agent is purged: remove what the driver keeps of its state
        beyond the host's state dir (the kubernetes runtime's PVC); most drivers have nothing."""
        ...

    log_scopes: tuple[LogScope, ...]
    """The logs ``logs`` can read, the default (``LogScope.HARNESS``) first."""

    def logs(self, name: str, lines: int = 200, scope: LogScope = LogScope.HARNESS) -> builtins.list[str]:
        """The last ``lines`` (at most ``MAX_LOG_LINES``) of agent ``name``'s ``scope`` log; a scope
        not in ``log_scopes`` is a ``UserError``. Blocking: async callers use a thread."""
        ...

    def tidy(self) -> None:
        """Housekeeping the loop runs before each pass (never in a dry run); may do nothing."""
        ...
