"""The `nixos` runtime: imperative `nixos-container`s built from the rendered meta flake.

Each verb is one `nixos-container` call (create --flake, update --flake,
start, stop, destroy, list, status). Their output is streamed into the
agent's log and the progress sink line by line as it comes, so a
multi-minute Nix build shows what it is doing instead of looking hung.

The agent's state dir, launch config and socket reach the container as
systemd-nspawn bind mounts, written to the container's
`/etc/nixos-containers/<name>.conf` (`EXTRA_NSPAWN_FLAGS`) right after
create, since `nixos-container create` has no flag for them.

A failed create or update (a Nix build error) is permanent until desired
state changes; a failed start, stop or list may be retried.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import re
import shutil
from pathlib import Path, PurePosixPath

from hive_kit.errors import PermanentError, TemporaryError
from hive_kit.launch import SANDBOX_CONFIG, SANDBOX_SOCKET, SANDBOX_STATE
from hive_kit.paths import StateLayout
from reconciler.model import ContainerState, Observed
from reconciler.runtime.base import LaunchSpec, LineSink

log = logging.getLogger(__name__)

CONF_DIR = Path("/etc/nixos-containers")
_TAIL = 20


def flake_dir(layout: StateLayout) -> Path:
    """Where the reconciler renders the meta flake (one nixosConfigurations.<name> per agent)."""
    return layout.root / "nix"


class NixosRuntime:
    kind = "nixos"
    uses_meta_flake = True
    insecure_reason: str | None = None

    def __init__(
        self, layout: StateLayout, *, binary: str = "nixos-container", conf_dir: Path = CONF_DIR
    ) -> None:
        self.layout = layout
        self.binary = binary
        self.conf_dir = conf_dir

    async def _run(
        self, args: builtins.list[str], name: str | None, progress: LineSink
    ) -> builtins.list[str]:
        """Run one `nixos-container` call, streaming its output; returns its lines."""
        exe = shutil.which(self.binary)
        if exe is None:
            raise PermanentError(
                f"{self.binary} not found on PATH: the nixos runtime needs a NixOS host "
                '(services.hyperhive.runtime = "nixos"); elsewhere use --runtime local'
            )
        proc = await asyncio.create_subprocess_exec(
            exe, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        if proc.stdout is None:  # cannot happen with PIPE; keeps the type checker honest
            raise TemporaryError(f"{self.binary}: no output pipe")
        lines: builtins.list[str] = []
        logfile = self.layout.agent_dir(name) / "agent.log" if name else None
        if logfile is not None:
            logfile.parent.mkdir(parents=True, exist_ok=True)
        while raw := await proc.stdout.readline():
            line = raw.decode(errors="replace").rstrip("\n")
            lines.append(line)
            if logfile is not None:
                with open(logfile, "a") as out:
                    out.write(line + "\n")
            if name:
                progress(f"  {name} | {line}")
        code = await proc.wait()
        if code != 0:
            tail = "\n".join(lines[-_TAIL:])
            what = f"{self.binary} {' '.join(args)}"
            message = f"{what} failed (exit {code}) for agent {name or '-'}:\n{tail}"
            if args[0] in ("create", "update"):
                raise PermanentError(message + "\nfix the agent's config (agent.nix) and commit again")
            raise TemporaryError(message)
        return lines

    def _flake_ref(self, name: str) -> str:
        return f"{flake_dir(self.layout)}#{name}"

    def _write_binds(self, spec: LaunchSpec) -> None:
        conf = self.conf_dir / f"{spec.name}.conf"
        flags = (
            f"--bind={spec.state_dir}:{SANDBOX_STATE} --bind-ro={spec.config_file}:{SANDBOX_CONFIG} "
            f"--bind={spec.socket.parent}:{PurePosixPath(SANDBOX_SOCKET).parent}"
        )
        text = conf.read_text() if conf.exists() else ""
        text = re.sub(r"(?m)^EXTRA_NSPAWN_FLAGS=.*\n?", "", text)
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text(text + f'EXTRA_NSPAWN_FLAGS="{flags}"\n')

    async def list(self) -> dict[str, Observed]:
        names = [n.strip() for n in await self._run(["list"], None, _quiet) if n.strip()]
        out = {}
        for name in names:
            status = (await self._run(["status", name], None, _quiet) or ["down"])[-1].strip()
            state = ContainerState.RUNNING if status == "up" else ContainerState.STOPPED
            out[name] = Observed(name, state, detail=status)
        return out

    async def create(self, spec: LaunchSpec, progress: LineSink) -> None:
        spec.state_dir.mkdir(parents=True, exist_ok=True)
        await self._run(["create", spec.name, "--flake", self._flake_ref(spec.name)], spec.name, progress)
        self._write_binds(spec)
        await self.start(spec, progress)

    async def update(self, spec: LaunchSpec, progress: LineSink) -> None:
        self._write_binds(spec)
        await self._run(["update", spec.name, "--flake", self._flake_ref(spec.name)], spec.name, progress)

    async def start(self, spec: LaunchSpec, progress: LineSink) -> None:
        await self._run(["start", spec.name], spec.name, progress)

    async def stop(self, name: str, progress: LineSink) -> None:
        await self._run(["stop", name], name, progress)

    async def destroy(self, name: str, progress: LineSink) -> None:
        await self._run(["destroy", name], name, progress)
        shutil.rmtree(self.layout.agent_build(name), ignore_errors=True)

    def tidy(self) -> None:
        return None  # nothing of ours to reap: systemd supervises the containers

    def logs(self, name: str, lines: int = 200) -> builtins.list[str]:
        try:
            text = (self.layout.agent_dir(name) / "agent.log").read_text(errors="replace")
        except OSError:
            return []
        return text.splitlines()[-lines:]


def _quiet(line: str) -> None:
    return None
