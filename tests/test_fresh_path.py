"""scripts/test.sh runs pytest on a fresh machine's PATH (scripts/test-path.sh): a bare `python` fails.

A test that ran `["python", "-m", "hive_harness", ...]` passed for months
where someone had installed the dependencies globally, and failed on the
first fresh machine. Here a planted test file runs under the PATH that
scripts/test.sh gives pytest: its bare `python` and bare `hive` fail, while
``sys.executable`` and the venv's own scripts beside it work. Nothing is
replaced: the real script, a real pytest run, real interpreters.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
TEST_PATH = REPO_ROOT / "scripts" / "test-path.sh"

PLANTED = """
import subprocess
import sys
from pathlib import Path


def run(argv):
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr


def test_bare_python():
    run(["python", "-m", "hive_harness", "--help"])


def test_bare_hive():
    run(["hive", "--help"])


def test_the_venvs_interpreter():
    run([sys.executable, "-m", "hive_harness", "--help"])


def test_the_venvs_script():
    run([str(Path(sys.executable).parent / "hive"), "--help"])
"""


def fresh_path(caller_path: str) -> str:
    env = {**os.environ, "PATH": caller_path, "VIRTUAL_ENV": str(Path(sys.executable).parent.parent)}
    done = subprocess.run([str(TEST_PATH)], env=env, capture_output=True, text=True, timeout=120, check=True)
    return done.stdout.strip()


def test_the_venv_is_off_the_path_and_a_bare_interpreter_is_first() -> None:
    venv_bin = str(Path(sys.executable).parent)
    path = fresh_path(f"{venv_bin}:/usr/bin:/bin").split(":")
    assert path == [str(REPO_ROOT / ".venv-bare" / "bin"), "/usr/bin", "/bin"], "an activated venv is dropped"
    bare = subprocess.run(
        [str(Path(path[0]) / "python"), "-c", "import sys; print(sys.prefix)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert bare.stdout.strip() == str(REPO_ROOT / ".venv-bare")


def run_planted(tmp_path: Path, path: str) -> str:
    (tmp_path / "test_planted.py").write_text(PLANTED)
    env = {
        "PATH": path,
        "PYTHONPATH": str(REPO_ROOT),  # what tests.conftest.subprocess_env gives every subprocess
        "HOME": os.environ.get("HOME", str(tmp_path)),
    }
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", "test_planted.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return done.stdout


def test_a_planted_bare_python_fails_under_the_suites_path(tmp_path: Path) -> None:
    activated = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}"
    out = run_planted(tmp_path, activated)
    assert "PASSED test_planted.py::test_bare_python" in out, "with the venv on PATH the mistake hides"

    out = run_planted(tmp_path, fresh_path(activated))
    assert "FAILED test_planted.py::test_bare_python" in out and "No module named 'typer'" in out, out
    assert "FAILED test_planted.py::test_bare_hive" in out and "a test ran 'hive' by bare name" in out, out
    assert "PASSED test_planted.py::test_the_venvs_interpreter" in out, out
    assert "PASSED test_planted.py::test_the_venvs_script" in out, out
