"""Creating the meta repo: the default swarm, git settings and the pre-receive hook.

Idempotent: running it on an existing repo only refreshes the hook (so it
points at the current interpreter) and the settings; desired state is never
rewritten.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pygit2

from desired.files import dump_files
from desired.repo import MAIN, Author, MetaRepo
from desired.schema import AgentSpec, DesiredState, SwarmSettings
from hive_kit.names import Role

HOOK_NAME = "pre-receive"
SYSTEM_AUTHOR = Author("hyperhive", "hive@hyperhive.local")

README = """\
# hyperhive meta repo

This repository is the desired state of a hyperhive swarm. Branch `main` is
what the reconciler converges to.

- `hive.json` holds swarm settings (operator pronouns, default model, defaults for new agents).
- `agents/<name>.json` holds one agent each; `agents/<name>/agent.nix` is optional extra NixOS config.

Edit with `hive agent ...`, `hive desired edit`, or clone, edit and `git push`:
the pre-receive hook refuses any push that would make desired state invalid and
says which file, which field and how to fix it. `hive schema` prints the JSON Schema.
"""


def default_state() -> DesiredState:
    manager = AgentSpec(
        name="manager",
        role=Role.MANAGER,
        description="Coordinates the swarm: asks for new agents, routes work, proposes config changes.",
    )
    return DesiredState(
        settings=SwarmSettings(),
        agents={"manager": manager},
        extra_files={"README.md": README.encode()},
    )


def hook_script(python: str = sys.executable) -> str:
    return (
        "#!/bin/sh\n"
        "# Installed by `hive init`: validates every push to main and proposals/*.\n"
        f'exec "{python}" -m desired.hook "$@"\n'
    )


def install_hook(path: Path) -> Path:
    hook = path / "hooks" / HOOK_NAME
    hook.parent.mkdir(parents=True, exist_ok=True)
    tmp = hook.with_suffix(".tmp")
    tmp.write_text(hook_script())
    tmp.chmod(tmp.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    os.replace(tmp, hook)
    return hook


def _configure(git: pygit2.Repository) -> None:
    config = git.config
    config["receive.denyNonFastForwards"] = True  # main's history is the audit log
    config["core.logAllRefUpdates"] = True
    config["user.name"] = SYSTEM_AUTHOR.name
    config["user.email"] = SYSTEM_AUTHOR.email


def init_meta_repo(path: Path, author: Author = SYSTEM_AUTHOR) -> tuple[MetaRepo, bool]:
    """Create (or refresh) the bare meta repo at ``path``; True if it was created now."""
    created = False
    if not (path / "HEAD").exists():
        path.mkdir(parents=True, exist_ok=True)
        pygit2.init_repository(str(path), bare=True, initial_head="main")
        created = True
    repo = MetaRepo(path)
    _configure(repo.git)
    install_hook(path)
    if repo.head(MAIN) is None:
        files = dump_files(default_state())
        tree = repo.write_tree(None, files)
        oid = repo.create_commit(tree, [], author, "hive init: a swarm of one manager")
        repo.compare_and_swap(MAIN, None, oid, "hive init")
    return repo, created
