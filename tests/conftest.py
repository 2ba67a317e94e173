"""Fixtures every test area shares: a fresh state dir and a real `hive` subprocess runner.

`hive` runs as a real process (``python -m hive``) with this checkout first on
PYTHONPATH, so the code under test is what git hooks and sandboxes run too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def subprocess_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH", "")]))
    env.pop("HIVE_STATE_DIR", None)
    env.setdefault("HIVE_AUTHOR", "Test Operator <operator@example.test>")
    env.setdefault("HIVE_WEB_PORT", "0")  # `hive serve` in tests: a free port, never a shared 7000
    env.update(extra)
    return env


HiveRunner = Callable[..., subprocess.CompletedProcess[str]]


def assert_no_traceback(done: subprocess.CompletedProcess[str]) -> None:
    """`hive` never shows a Python traceback: errors are one or two lines (hive/cli/errors.py)."""
    assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr


def run_hive(
    state_dir: Path, *args: str, ok: bool = True, timeout: float = 60, **env: str
) -> subprocess.CompletedProcess[str]:
    """The real `hive` CLI (this venv's interpreter) on ``state_dir``: never a traceback, and exit 0
    unless ``ok=False`` (then the caller reads the code). ``env``: extra environment variables."""
    done = subprocess.run(
        [sys.executable, "-m", "hive", *args, "--state-dir", str(state_dir)],
        env=subprocess_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert_no_traceback(done)
    if ok:
        assert done.returncode == 0, done.stderr
    return done


def kill_sandboxes_under(root: Path) -> int:
    """SIGKILL the process group of every bubblewrap sandbox whose bind mounts come from ``root``.

    Agents deliberately outlive `hive serve` (a restarted daemon adopts them), so
    a test that ran the reconciler must not leave them behind holding ports.
    """
    needle = str(root).encode()
    killed = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"bwrap") and any(needle in arg for arg in argv):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(int(entry.name), signal.SIGKILL)
                killed += 1
    return killed


@pytest.fixture(autouse=True)
def _no_leaked_agents(tmp_path: Path) -> Iterator[None]:
    yield
    kill_sandboxes_under(tmp_path)


@pytest.fixture(autouse=True)
def _own_uid_claims(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's swarms claim agent uids in a registry of their own, not the host's
    /var/lib/hyperhive-uids: pytest keeps old state dirs, whose claims would fill the range."""
    monkeypatch.setenv("HIVE_UID_REGISTRY", str(tmp_path_factory.mktemp("uid-claims")))


@pytest.fixture(scope="session")
def hyperhive_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """hyperhive built as a wheel from this checkout's tracked files, once per run (tests/wheels.py)."""
    from tests.wheels import build_wheel

    return build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "hive-state"


@pytest.fixture
def hive(state_dir: Path) -> HiveRunner:
    """Run `hive ARGS... --state-dir <tmp>`; returns the completed process (raises only if it printed a
    Python traceback, which `hive` never should, whatever the input)."""

    def run(
        *args: str,
        input: str | None = None,
        env: dict[str, str] | None = None,
        state: bool = True,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "hive", *args]
        if state:
            argv += ["--state-dir", str(state_dir)]
        done = subprocess.run(
            argv,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=subprocess_env(**(env or {})),
            check=False,
        )
        assert_no_traceback(done)
        return done

    return run
