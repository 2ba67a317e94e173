"""The `nixos` runtime: imperative `nixos-container`s built from the rendered meta flake.

Each verb is one `nixos-container` call (create --flake, update --flake,
start, stop, destroy, list, status). Their output is streamed into the
agent's log and the progress sink line by line as it comes, so a
multi-minute Nix build shows what it is doing instead of looking hung.

The host side of a container — loopback-only network, no user namespace,
the agent's state dir, socket directory and launch config as bind mounts —
is `reconciler/nix/container.nix` applied to the launch spec's paths
(`reconciler.nixrender.render_container`, written to the build dir as
`container.nix`). `nixos-container create` has no flag for any of it and
always gives the container a veth pair with addresses, so before every
start (a create's too) and every update the driver evaluates that file
(`nix-instantiate --eval`) and writes its `conf` over the container's
`/etc/nixos-containers/<name>.conf`, keeping only the `FLAKE` and
`AUTO_START` lines `nixos-container` wrote. An update that changes the conf
restarts a running container: a reload keeps the old network and mounts.

A failed create or update (a Nix build error) is permanent until desired
state changes; a failed start, stop or list may be retried.

What a container is built from on the host's side (the hyperhive and nixpkgs
pins, the system, whether the model gateway holds the key: ``FlakeInputs``)
is recorded beside its build (``build/host-inputs.json``) after each create
and update. ``list`` compares that record with the host's inputs now and
reports a container built on other ones as due for a rebuild
(``Observed.rebuild``): the planner updates it, so upgrading the host moves
every agent onto the new pins while the fingerprint, which covers desired
state only, stays as it was.

Logs: the harness is a systemd unit inside the container, so its output is
in the container's journal (``reconciler.runtime.journal``: `journalctl -M`,
the harness unit by default or the whole machine); what `nixos-container`
printed for the agent (builds) is its `agent.log`, the ``build`` scope.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import logging
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from hive_core.identities import Identities, UidRange
from hive_kit.errors import NotFoundError, PermanentError, TemporaryError, UserError
from hive_kit.names import name_problem
from hive_kit.paths import StateLayout
from reconciler.model import ContainerState, FieldChange, Observed
from reconciler.nixrender import FlakeInputs, describe_changes, render_container
from reconciler.runtime.base import MAX_LOG_LINES, LaunchSpec, LineSink, LogScope, log_scope
from reconciler.runtime.journal import journal_argv, read_journal
from reconciler.runtime.metaview import write_meta_view

log = logging.getLogger(__name__)

CONF_DIR = Path("/etc/nixos-containers")
KEPT_KEYS = frozenset({"FLAKE", "AUTO_START"})
"""Lines of the conf that `nixos-container` owns; every other line comes from container.nix."""
_TAIL = 20
_EVAL_TIMEOUT = 60.0


def flake_dir(layout: StateLayout) -> Path:
    """Where the reconciler renders the meta flake (one nixosConfigurations.<name> per agent)."""
    return layout.root / "nix"


class NixosRuntime:
    kind = "nixos"
    uses_meta_flake = True
    places_seeds = False  # the loop writes them into the state dir, which is /state
    log_scopes: tuple[LogScope, ...] = (LogScope.HARNESS, LogScope.MACHINE, LogScope.BUILD)
    insecure_reason: str | None = None

    def __init__(
        self,
        layout: StateLayout,
        *,
        binary: str = "nixos-container",
        conf_dir: Path = CONF_DIR,
        nix_instantiate: str = "nix-instantiate",
        journalctl: str = "journalctl",
        identities: Identities | None = None,
        uid_range: UidRange | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """``env``: where the host's pins and model key are read (the daemon's environment)."""
        self.layout = layout
        self.env = env
        self.binary = binary
        self.conf_dir = conf_dir
        self.nix_instantiate = nix_instantiate
        self.journalctl = journalctl
        self._identities = identities
        self._opening = asyncio.Lock()
        self.uid_range = uid_range or (identities.range if identities else UidRange.from_env())

    async def agent_uid(self, name: str) -> int | None:
        """The same allocation as the local runtime's: the container's harness user gets it."""
        async with self._opening:  # agents are deployed in parallel: open (and migrate) the store once
            if self._identities is None:
                self._identities = await asyncio.to_thread(Identities.open, self.layout.db, self.uid_range)
        return (await asyncio.to_thread(self._identities.for_agent, name)).uid

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

    async def _render_conf(self, spec: LaunchSpec) -> str:
        """The conf lines for ``spec``'s container: container.nix on its paths, evaluated by Nix."""
        exe = shutil.which(self.nix_instantiate)
        if exe is None:
            raise PermanentError(
                f"{self.nix_instantiate} not found on PATH: the nixos runtime evaluates agent "
                f"{spec.name}'s container settings with it (services.hyperhive puts nix on the daemon's PATH)"
            )
        path = spec.build_dir / "container.nix"
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = None
        if spec.is_manager:
            meta = (spec.build_dir / "meta-view", self.layout.meta)
            write_meta_view(meta[0])
        path.write_text(
            render_container(
                spec.name,
                state_dir=spec.state_dir,
                run_dir=spec.socket.parent,
                config_file=spec.config_file,
                meta=meta,
            )
        )
        proc = await asyncio.create_subprocess_exec(
            exe, "--eval", "--strict", "--json", str(path), "-A", "conf",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            out, err = await asyncio.wait_for(proc.communicate(), _EVAL_TIMEOUT)
        except TimeoutError as exc:
            proc.kill()
            await proc.wait()
            raise TemporaryError(
                f"evaluating {path} (agent {spec.name}) took over {_EVAL_TIMEOUT:.0f}s"
            ) from exc
        if proc.returncode != 0:
            tail = "\n".join(err.decode(errors="replace").splitlines()[-_TAIL:])
            raise PermanentError(f"evaluating {path} (agent {spec.name}) failed:\n{tail}")
        conf = json.loads(out)
        if not isinstance(conf, str):
            raise PermanentError(f"{path}: its conf is not a string (agent {spec.name})")
        return conf

    async def _write_conf(self, spec: LaunchSpec) -> bool:
        """Make the container's conf say what its container.nix says; True if that changed it."""
        conf = self.conf_dir / f"{spec.name}.conf"
        old = conf.read_text() if conf.exists() else ""
        kept = [line for line in old.splitlines() if line.partition("=")[0].strip() in KEPT_KEYS]
        text = "".join(line + "\n" for line in kept) + await self._render_conf(spec)
        if text == old:
            return False
        conf.parent.mkdir(parents=True, exist_ok=True)
        tmp = conf.with_name(f".{conf.name}.tmp")
        tmp.write_text(text)
        os.chmod(tmp, 0o644)
        tmp.replace(conf)
        log.info("%s: wrote %s from its container.nix", spec.name, conf)
        return True

    def host_inputs(self) -> FlakeInputs | None:
        """What containers are built from now on the host's side: from the pins in our environment
        (the daemon's), else as the daemon last saw them (``<state>/host-inputs.json``: root's
        shell has neither the pins nor the key of services.hyperhive's environmentFile). None
        where neither tells: then no container is called out of date."""
        try:
            return FlakeInputs.from_env(self.env, self.layout.secrets)
        except PermanentError:
            pass
        try:
            data = json.loads(self._host_file().read_text())
            return FlakeInputs(
                str(data["hyperhive"]), str(data["nixpkgs"]), str(data["system"]), bool(data["model_gateway"])
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _host_file(self) -> Path:
        return self.layout.root / "host-inputs.json"

    def _record_inputs(self, name: str) -> None:
        inputs = self.host_inputs()
        if inputs is not None:
            _write_json(self.layout.agent_build(name) / "host-inputs.json", inputs.to_json())

    def _rebuild(self, name: str, now: FlakeInputs | None) -> tuple[str, tuple[FieldChange, ...]]:
        """Why ``name``'s container must be rebuilt on the host's current inputs ("" if it need not)."""
        build = self.layout.agent_build(name)
        if now is None or not (build / "agent.json").exists():  # not one of ours: nothing to compare
            return "", ()
        try:
            old = json.loads((build / "host-inputs.json").read_text())
        except (OSError, ValueError):
            old = None
        if not isinstance(old, dict):
            changes = now.changes_from({})
            return "host's nix inputs not recorded (built by an older hyperhive): rebuilding on them", changes
        changes = now.changes_from(old)
        return (describe_changes(changes), changes) if changes else ("", ())

    async def _is_up(self, name: str) -> bool:
        return (await self._run(["status", name], None, _quiet) or ["down"])[-1].strip() == "up"

    async def list(self) -> dict[str, Observed]:
        names = [n.strip() for n in await self._run(["list"], None, _quiet) if n.strip()]
        now = self.host_inputs()
        out = {}
        for name in names:
            up = await self._is_up(name)
            state = ContainerState.RUNNING if up else ContainerState.STOPPED
            why, changes = self._rebuild(name, now)
            out[name] = Observed(
                name, state, detail="up" if up else "down", rebuild=why, rebuild_changes=changes
            )
        return out

    async def create(self, spec: LaunchSpec, progress: LineSink) -> None:
        spec.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        await self._run(["create", spec.name, "--flake", self._flake_ref(spec.name)], spec.name, progress)
        self._record_inputs(spec.name)
        await self.start(spec, progress)

    async def update(self, spec: LaunchSpec, progress: LineSink) -> None:
        changed = await self._write_conf(spec)
        await self._run(["update", spec.name, "--flake", self._flake_ref(spec.name)], spec.name, progress)
        self._record_inputs(spec.name)
        if changed and await self._is_up(spec.name):
            progress(f"  {spec.name} | container settings changed: restarting it")
            await self.stop(spec.name, progress)
            await self._run(["start", spec.name], spec.name, progress)

    async def start(self, spec: LaunchSpec, progress: LineSink) -> None:
        await self._write_conf(spec)
        await self._run(["start", spec.name], spec.name, progress)

    async def stop(self, name: str, progress: LineSink) -> None:
        await self._run(["stop", name], name, progress)

    async def destroy(self, name: str, progress: LineSink) -> None:
        await self._run(["destroy", name], name, progress)
        shutil.rmtree(self.layout.agent_build(name), ignore_errors=True)

    async def purge(self, name: str, progress: LineSink) -> None:
        return None  # the state dir is all there is, and the loop removes it

    def tidy(self) -> None:
        """Once a pass (the loop's, never a read-only view's): note the host's inputs for the
        `hive` commands run from a shell that lacks them. Nothing to reap: systemd supervises
        the containers."""
        try:
            data = FlakeInputs.from_env(self.env, self.layout.secrets).to_json()
        except PermanentError:
            return  # the deploy says so, naming the fix
        path = self._host_file()
        try:
            if json.loads(path.read_text()) == data:
                return
        except (OSError, ValueError):
            pass
        _write_json(path, data)

    def logs(self, name: str, lines: int = 200, scope: LogScope = LogScope.HARNESS) -> builtins.list[str]:
        """The harness unit's journal (default), the container's whole journal, or our build output."""
        scope = log_scope(scope, self.log_scopes, self.kind)
        lines = max(1, min(lines, MAX_LOG_LINES))
        if scope is LogScope.BUILD:
            try:
                text = (self.layout.agent_dir(name) / "agent.log").read_text(errors="replace")
            except OSError:
                return []
            return text.splitlines()[-lines:]
        why = name_problem(name)
        if why is not None:
            raise UserError(f"agent {name!r}: {why}")
        if not self.layout.agent_dir(name).is_dir():  # -M reads only containers hyperhive made
            raise NotFoundError(f"no agent {name!r} on this host: hyperhive never created its container")
        exe = shutil.which(self.journalctl)
        if exe is None:
            raise PermanentError(
                f"{self.journalctl} not found on PATH: the nixos runtime reads agent {name}'s log from its "
                "container's journal (services.hyperhive puts systemd on the daemon's PATH)"
            )
        return read_journal(journal_argv(exe, name, scope, lines), name)


def _quiet(line: str) -> None:
    return None


def _write_json(path: Path, data: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)
