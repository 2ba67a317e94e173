"""Every `hive` command, fed bad input, says what was wrong in one or two lines, exits 1: never a traceback.

The commands are read from the typer app itself (``typer.main.get_command``, recursing into
groups), so a command added later is swept without touching this file. Each is fed an unknown
option, nothing where it needs an argument, a malformed number, an unknown agent, a state dir that
does not exist, and an initialised state dir with no `hive serve` on it.

Most cases run in-process with typer's ``CliRunner``: the root group (``hive.cli.errors.HiveGroup``)
handles errors there exactly as in the console script, and ``catch_exceptions=False`` makes any
exception that escapes it fail the test. A few run the real console script (the venv's `hive`) as a
subprocess. The daemon is a real `hive serve --no-reconcile --no-web` on a real state dir: no agent
is started, and an unknown agent is refused before the reconciler would be needed.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

import hive.cli.setup
from desired.bootstrap import init_meta_repo
from hive.cli.main import app
from hive_kit.paths import StateLayout
from tests.conftest import subprocess_env
from tests.core.conftest import Process

ROOT = typer.main.get_command(app)


def _leaves(cmd: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    subs = getattr(cmd, "commands", None)
    if not subs:
        yield path, cmd
        return
    for name, sub in sorted(subs.items()):
        yield from _leaves(sub, (*path, name))


COMMANDS = dict(_leaves(ROOT))
NAMES = [" ".join(path) for path in COMMANDS]

SAMPLES = {"field": "model", "value": "opus", "body": "hello", "text": "yes", "kind": "agent"}
"""Values that get an argument past its own checks, so the case under test is what fails."""

AGENT_ARGS = ("name", "to")
"""Arguments that name an existing agent (`agent add NAME` names a new one: below)."""
NEW_AGENT = {"agent add"}

REPORTS = {"doctor": "checks the machine: a missing state dir is one ✗ in its report (stdout), with the fix"}
"""Commands whose job is to report problems: the fix is in the report; stderr names what failed."""

NEEDS_NO_STATE = {
    "init": "creates the state dir",
    "schema": "prints the JSON Schema, whatever the state dir",
    "validate": "checks files; a meta repo, if any, only adds a comparison with main",
}
NEEDS_THE_DAEMON = {
    "answer",
    "dashboard url",
    "egress",
    "events",
    "inbox",
    "questions",
    "rebuild",
    "reminders",
    "restart",
    "send",
    "reconcile",  # with --now (EXTRA)
}
EXTRA = {"reconcile": ["--now"], "stop": ["--all"]}
"""Flags that make a command ask the daemon (`reconcile --now`) or do its work (`stop --all`)."""
NOT_RUN_WITHOUT_DAEMON = {
    "serve": "is the daemon (tests/core/test_serve.py runs it)",
}


def _numeric(param: Any) -> bool:
    return param.type_descriptor.annotation in (int, float) and not getattr(param, "is_flag", False)


def _where(keep: Any) -> list[str]:
    return [name for name in NAMES if keep(name, COMMANDS[tuple(name.split())])]


WITH_REQUIRED = _where(lambda name, cmd: any(p.required for p in cmd.params))
WITH_NUMBERS = _where(lambda name, cmd: any(_numeric(p) for p in cmd.params))
WITH_AGENT = _where(lambda name, cmd: name not in NEW_AGENT and any(p.name in AGENT_ARGS for p in cmd.params))
WITH_STATE = _where(
    lambda name, cmd: name not in NEEDS_NO_STATE and any(p.name == "state_dir" for p in cmd.params)
)
RUNNABLE = _where(lambda name, cmd: name not in NOT_RUN_WITHOUT_DAEMON)


def _sample(param: Any, tmp: Path, agent: str = "alpha") -> str:
    if param.name in AGENT_ARGS:
        return agent
    annotation = param.type_descriptor.annotation
    if annotation in (int, float):
        return "1"
    if annotation is Path:
        return str(tmp / f"no-{param.name}")
    return SAMPLES.get(param.name, "alpha")


def _args(cmd: Any, tmp: Path, *, agent: str = "alpha", bad: Any = None) -> list[str]:
    """Every required argument and option filled in (``bad`` gets "zzz" instead)."""
    out: list[str] = []
    for param in cmd.params:
        value = "zzz" if param is bad else _sample(param, tmp, agent)
        if param.param_type_name == "argument" and (
            param.required or param is bad or param.name in AGENT_ARGS
        ):
            out.append(value)
        elif param.param_type_name == "option" and (param.required or param is bad):
            out += [param.opts[0], value]
    return out


def run(args: Sequence[str], **env: str | None) -> Any:
    result = CliRunner().invoke(
        app,
        list(args),
        env={"HIVE_STATE_DIR": None, "EDITOR": "true", "VISUAL": None, **env},
        catch_exceptions=False,
    )
    return result


def assert_clean_error(result: Any, *needles: str) -> None:
    """Exit 1, one or two lines on stderr naming the problem, nothing else, no traceback."""
    out = result.stdout + result.stderr
    assert "Traceback" not in out, out
    assert "Value error, " not in out, out  # pydantic's own wording leaking through typer
    assert result.exit_code == 1, out
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 2 and lines[0].startswith("error: "), result.stderr
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)


@pytest.fixture
def fresh(tmp_path: Path) -> StateLayout:
    layout = StateLayout(tmp_path / "hive")
    init_meta_repo(layout.meta)
    return layout


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StateLayout]:
    """A real `hive serve --no-reconcile --no-web` on an initialised state dir (agent: manager)."""
    layout = StateLayout(tmp_path_factory.mktemp("served") / "hive")
    init_meta_repo(layout.meta)
    process = Process(layout)
    process.start()
    try:
        yield layout
    finally:
        process.stop()


def test_the_sweep_sees_every_command() -> None:
    assert {"agent add", "desired remote set", "restart", "rebuild", "stop", "serve"} <= set(NAMES)
    assert set(NEEDS_NO_STATE) | NEEDS_THE_DAEMON | set(NOT_RUN_WITHOUT_DAEMON) <= set(NAMES)
    assert {"logs", "purge", "egress", "send", "restart", "rebuild", "agent set"} <= set(WITH_AGENT)
    assert {"approve", "answer", "inbox", "logs", "serve"} <= set(WITH_NUMBERS)


@pytest.mark.parametrize("name", NAMES)
def test_an_unknown_option(name: str) -> None:
    result = run([*name.split(), "--no-such-option"])
    assert_clean_error(result, "no such option: --no-such-option", f"`hive {name} --help`")


@pytest.mark.parametrize("name", WITH_REQUIRED)
def test_a_missing_argument(name: str) -> None:
    required = [p for p in COMMANDS[tuple(name.split())].params if p.required]
    result = run(name.split())
    assert_clean_error(result, "missing", f"`hive {name} --help`")
    named = [p.name for p in required] + [p.metavar for p in required if p.metavar]
    named += [o for p in required for o in p.opts if o.startswith("--")]
    assert any(f"'{word}'" in result.stderr for word in named), result.stderr


@pytest.mark.parametrize("name", WITH_NUMBERS)
def test_a_malformed_number(name: str, tmp_path: Path) -> None:
    cmd = COMMANDS[tuple(name.split())]
    for param in filter(_numeric, cmd.params):
        result = run([*name.split(), *_args(cmd, tmp_path, bad=param)])
        hint = param.opts[0] if param.param_type_name == "option" else (param.metavar or param.name)
        assert_clean_error(result, "invalid value", hint)


@pytest.mark.parametrize("name", WITH_AGENT)
def test_an_unknown_agent(name: str, served: StateLayout, tmp_path: Path) -> None:
    cmd = COMMANDS[tuple(name.split())]
    args = [*name.split(), *_args(cmd, tmp_path, agent="ghost"), "--state-dir", str(served.root)]
    assert_clean_error(run(args), "'ghost'")


@pytest.mark.parametrize("name", WITH_STATE)
def test_no_state_dir(name: str, tmp_path: Path) -> None:
    cmd = COMMANDS[tuple(name.split())]
    absent = tmp_path / "absent"
    args = [*name.split(), *_args(cmd, tmp_path), *EXTRA.get(name, []), "--state-dir", str(absent)]
    result = run(args)
    if name in REPORTS:
        assert_clean_error(result)
        assert "`hive init" in result.stdout, result.stdout
    else:
        assert_clean_error(result, "`hive init`")
    assert not absent.exists(), "a command refused for want of a state dir creates none"


@pytest.mark.parametrize("name", RUNNABLE)
def test_no_daemon(name: str, fresh: StateLayout, tmp_path: Path) -> None:
    """On an initialised state dir with no `hive serve`: a command works, or fails cleanly; exactly
    the commands that need the daemon say to start it."""
    cmd = COMMANDS[tuple(name.split())]
    args = [*name.split(), *_args(cmd, tmp_path), *EXTRA.get(name, []), "--state-dir", str(fresh.root)]
    if not any(p.name == "state_dir" for p in cmd.params):
        args = args[:-2]
    result = run(args)
    assert "Traceback" not in result.stdout + result.stderr
    says_start_it = "no `hive serve` is running" in result.stderr
    assert says_start_it == (name in NEEDS_THE_DAEMON), (result.exit_code, result.stderr)
    if result.exit_code != 0:
        assert_clean_error(result)


def test_the_console_script_prints_no_traceback(tmp_path: Path) -> None:
    """The real `hive` entry point, as a user runs it: the same one or two lines."""
    script = Path(sys.executable).parent / "hive"
    for argv, needle in (
        (["whoami"], "no such command 'whoami'"),
        (["agent", "add"], "missing argument"),
        (["status", "--bogus"], "no such option: --bogus"),
        (["inbox", "--limit", "many"], "invalid value for '--limit'"),
        (["status", "--state-dir", str(tmp_path / "absent")], "`hive init`"),
    ):
        done = subprocess.run(
            [str(script), *argv],
            capture_output=True,
            text=True,
            env=subprocess_env(),
            check=False,
            timeout=120,
        )
        assert "Traceback" not in done.stdout + done.stderr, done.stderr
        assert done.returncode == 1 and done.stderr.startswith("error: ") and needle in done.stderr
        assert len(done.stderr.strip().splitlines()) <= 2, done.stderr


def test_help_alone_is_not_an_error() -> None:
    for args in ([], ["agent"], ["desired", "remote"]):
        result = run(args)
        assert result.exit_code == 0 and "Usage" in result.stdout and not result.stderr


def test_a_bug_is_one_line_and_hive_debug_shows_the_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(kind: str) -> dict[str, Any]:
        raise RuntimeError("the schema went missing")

    monkeypatch.setattr(hive.cli.setup, "schema_for", broken)
    result = run(["schema"])
    assert_clean_error(result, "unexpected RuntimeError in `hive schema`", "HIVE_DEBUG=1")
    with pytest.raises(RuntimeError, match="went missing"):
        run(["schema"], HIVE_DEBUG="1")


def test_ctrl_c_exits_130_quietly(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(kind: str) -> dict[str, Any]:
        raise KeyboardInterrupt

    monkeypatch.setattr(hive.cli.setup, "schema_for", interrupted)
    result = run(["schema"])
    assert result.exit_code == 130 and not result.stderr.strip()
