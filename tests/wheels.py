"""Helpers for the tests that install hyperhive the way a user does: a built wheel in a fresh venv.

``build_wheel`` copies the tracked files of this checkout somewhere else and
runs ``pip wheel --no-deps`` there (the build writes nothing into the tree
under test; an untracked new file is not in the wheel, as it would not be in
a release). ``fresh_venv`` makes a plain venv (never
``--system-site-packages``: that would see this checkout's editable
install). ``constraints`` pins every dependency to the version the venv
under test has, so pip takes it from its cache when it can. ``outside_env``
is the environment a user outside the checkout has: no PYTHONPATH, no
``HIVE_*`` from the test run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT

INSTALL_TIMEOUT_S = 900


def run(argv: list[str | Path], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # type: ignore[call-overload,no-any-return]
        [str(a) for a in argv], capture_output=True, text=True, check=False, timeout=INSTALL_TIMEOUT_S, **kw
    )


def checked(argv: list[str | Path], **kw: object) -> subprocess.CompletedProcess[str]:
    done = run(argv, **kw)
    assert done.returncode == 0, (
        f"{argv}: exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return done


def source_copy(dest: Path) -> Path:
    """The files git tracks in this checkout, copied to ``dest`` (as they are in the work tree)."""
    listed = checked(["git", "-C", REPO_ROOT, "ls-files", "-z"])
    for rel in filter(None, listed.stdout.split("\0")):
        if (REPO_ROOT / rel).is_file():
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes((REPO_ROOT / rel).read_bytes())
    return dest


def build_wheel(root: Path) -> Path:
    src = source_copy(root / "src")
    checked([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", src, "-w", root / "dist"], cwd=root)
    (wheel,) = (root / "dist").glob("hyperhive-*.whl")
    return wheel


def fresh_venv(path: Path) -> Path:
    checked([sys.executable, "-m", "venv", path])
    return path


def constraints(path: Path) -> Path:
    """A pip constraints file: this venv's versions of everything (not hyperhive itself)."""
    frozen = checked([sys.executable, "-m", "pip", "freeze", "--exclude-editable"]).stdout.splitlines()
    path.write_text("".join(line + "\n" for line in frozen if "==" in line and "hyperhive" not in line))
    return path


def outside_env(*bin_dirs: Path, **extra: str) -> dict[str, str]:
    """The environment of a user with ``bin_dirs`` first on PATH and no checkout in sight."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("HIVE_")}
    env["PATH"] = os.pathsep.join(
        [*map(str, bin_dirs), "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
    )
    env["HIVE_AUTHOR"] = "Test Operator <operator@example.test>"
    env.update(extra)
    return env
