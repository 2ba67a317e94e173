"""`hive doctor --runtime KIND` checks what that driver needs of the host, asked of the registry.

What a driver needs (bubblewrap and host processes for local, Nix for nixos, neither for
kubernetes) is ``reconciler.runtime.registry.HOST_NEEDS``; doctor never compares the kind's name.
Real: `hive doctor` as a process on a fresh state dir, on a PATH that has git and nothing else (no
bwrap, no nix-instantiate), so each runtime's rows show whether it asks for those tools.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from desired.bootstrap import init_meta_repo
from hive_kit.paths import StateLayout
from reconciler.runtime.registry import DRIVERS, HOST_NEEDS
from tests.conftest import subprocess_env

HOST_ONLY = ("sandbox", "claude in a sandbox", "orphans")


def doctor(tmp_path: Path, runtime: str) -> dict[str, dict[str, Any]]:
    layout = StateLayout(tmp_path / "hive")
    if not layout.meta.exists():
        init_meta_repo(layout.meta)
    tools = tmp_path / "tools"
    tools.mkdir(exist_ok=True)
    git = shutil.which("git")
    assert git is not None
    if not (tools / "git").exists():
        (tools / "git").symlink_to(git)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "hive",
            "doctor",
            "--json",
            "--runtime",
            runtime,
            "--state-dir",
            str(layout.root),
        ],
        env=subprocess_env(PATH=str(tools), HIVE_WEB_PORT="0", ANTHROPIC_API_KEY="sk-doctor-test"),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    assert done.returncode == 1, "no daemon runs on a fresh state dir: its row is a ✗"
    return {c["check"]: c for c in json.loads(done.stdout)}


def test_every_driver_says_what_it_needs_of_the_host() -> None:
    assert set(HOST_NEEDS) == set(DRIVERS)


def test_local_needs_bubblewrap_and_not_nix(tmp_path: Path) -> None:
    checks = doctor(tmp_path, "local")
    assert not checks["sandbox"]["ok"] and "bwrap" in checks["sandbox"]["detail"] + checks["sandbox"]["fix"]
    nix = checks["nix-instantiate"]
    assert nix["ok"] and nix["detail"].startswith(
        "not needed: nix-instantiate is not installed, and only the nixos"
    )


@pytest.mark.parametrize("runtime", ["nixos", "kubernetes"])
def test_a_runtime_with_its_own_containers_skips_the_host_sandbox(tmp_path: Path, runtime: str) -> None:
    checks = doctor(tmp_path, runtime)
    for name in HOST_ONLY:
        assert checks[name]["ok"], checks[name]
        assert checks[name]["detail"].startswith(f"not needed: the {runtime} runtime"), checks[name]
    nix = checks["nix-instantiate"]
    if runtime == "nixos":
        assert not nix["ok"] and nix["detail"] == "nix-instantiate is not on PATH", nix
    else:
        assert nix["ok"] and nix["detail"].startswith("not needed"), nix
