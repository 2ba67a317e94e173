"""hyperhive installed as a user installs it: a built wheel in a fresh venv, run with no checkout in sight.

A non-editable install (a wheel; what Nix's ``buildPythonApplication``
makes) must carry its data: the harness's system prompts, the renderer's
templates and the Nix modules it copies into the meta flake. This builds
the wheel from this checkout's tracked files, installs it with its
dependencies into a fresh venv in a temporary directory (the dependencies
pinned to this venv's versions, from pip's cache or PyPI; see
tests/wheels.py), and from that venv, with the working directory outside
the checkout and no PYTHONPATH: `hive init`, one `hive reconcile` pass that
starts the real harness in a real bubblewrap sandbox as its own uid, and
`hive-harness --help`. Then the same from a `pipx install` of the wheel
(pipx itself installed from PyPI into a venv of the test's own).

Real: everything. The one thing taken from the checkout is the `claude`
binary (node_modules), hard-linked into the test's bin directory as a user
would have it on PATH; no turn runs, so it is never started. Slow: three
installs take a minute or two; the default run includes it (`-m "not slow"`
leaves it out).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.wheels import checked, constraints, fresh_venv, outside_env, run

CLAUDE = REPO_ROOT / "node_modules" / ".bin" / "claude"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

needs_sandbox = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("bwrap"), reason="the sandboxed pass needs a root daemon and bwrap"
)
needs_claude = pytest.mark.skipif(
    not CLAUDE.exists(), reason="run `npm install` at the repo root for the claude CLI"
)


@pytest.fixture(scope="module")
def pins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return constraints(tmp_path_factory.mktemp("pins") / "constraints.txt")


@pytest.fixture(scope="module")
def wheel_venv(hyperhive_wheel: Path, pins: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("wheel-venv")
    venv = fresh_venv(root / "venv")
    checked([venv / "bin" / "python", "-m", "pip", "install", "-q", hyperhive_wheel, "-c", pins], cwd=root)
    return venv / "bin"


@pytest.fixture(scope="module")
def pipx_bin(hyperhive_wheel: Path, pins: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pipx")
    tools = fresh_venv(root / "tools")
    got = run([tools / "bin" / "python", "-m", "pip", "install", "-q", "pipx"], cwd=root)
    if got.returncode != 0:
        pytest.skip(f"pipx cannot be installed here: {got.stderr.strip()[-300:]}")
    env = outside_env(
        PIPX_HOME=str(root / "home"), PIPX_BIN_DIR=str(root / "bin"), PIPX_MAN_DIR=str(root / "man")
    )
    args = ["install", "--pip-args", f"-c {pins}", hyperhive_wheel]
    checked([tools / "bin" / "pipx", *args], cwd=root, env=env)
    return root / "bin"


@pytest.fixture
def user_bin(tmp_path: Path) -> Path:
    """A directory with `claude` in it, as a user's PATH has it."""
    bin_dir = tmp_path / "user-bin"
    bin_dir.mkdir()
    try:
        os.link(CLAUDE.resolve(), bin_dir / "claude")
    except OSError:  # another file system: a link to it serves as well
        (bin_dir / "claude").symlink_to(CLAUDE.resolve())
    return bin_dir


WHERE = """
import json, sys, hive_core, hive_harness, reconciler
from hive_harness.prompts import load_system_prompt
from hive_kit.launch import AgentLaunchConfig
from reconciler.nixrender import NIX_TEMPLATES, render_container
print(json.dumps({
    "modules": [m.__file__ for m in (hive_core, hive_harness, reconciler)],
    "sys_path": sys.path,
    "prompt": load_system_prompt(AgentLaunchConfig(name="coder", role="agent", model="m")),
    "nix": str(NIX_TEMPLATES),
    "container": render_container("coder", state_dir="/s", run_dir="/r", config_file="/c"),
}))
"""


def test_the_wheel_installs_and_reads_its_data_from_the_venv(wheel_venv: Path) -> None:
    venv = wheel_venv.parent
    done = checked([wheel_venv / "python", "-c", WHERE], cwd="/", env=outside_env(wheel_venv))
    seen = json.loads(done.stdout)
    for module in seen["modules"]:
        assert Path(module).is_relative_to(venv), f"{module} is not from the new venv"
    assert not [p for p in seen["sys_path"] if p and Path(p).is_relative_to(REPO_ROOT)], seen["sys_path"]
    assert "You are coder" in seen["prompt"] and "{{" not in seen["prompt"]
    nix = Path(seen["nix"])
    assert nix.is_relative_to(venv) and (nix / "harness-base.nix").is_file()
    assert f'import "{nix / "container.nix"}"' in seen["container"], "container.nix from the wheel"
    # the meta flake renders from the wheel's template and parses (modules: the pinned hyperhive input)
    flake = checked([wheel_venv / "python", "-c", FLAKE], cwd="/", env=outside_env(wheel_venv)).stdout
    assert '"coder" = agent ./agents/coder/agent.json' in flake and "hyperhive.nixosModules.agent" in flake
    checked(["nix-instantiate", "--parse", "-"], input=flake)


FLAKE = """
from desired.schema import AgentSpec, DesiredState
from reconciler.nixrender import FlakeInputs, render_flake
desired = DesiredState(agents={"coder": AgentSpec(name="coder")})
store = "/nix/store/" + "0" * 32
inputs = FlakeInputs(hyperhive=f"path:{store}-hyperhive-source", nixpkgs=f"path:{store}-source")
files = render_flake(desired, "0" * 40, {"coder": "{}"}, inputs)
assert sorted(files) == ["agents/coder/agent.json", "flake.nix"], sorted(files)
print(files["flake.nix"])
"""


@needs_sandbox
@needs_claude
def test_init_and_one_reconcile_pass_start_a_sandboxed_harness(
    wheel_venv: Path, tmp_path: Path, user_bin: Path
) -> None:
    init_and_reconcile(wheel_venv, tmp_path, user_bin)


def test_pipx_installs_the_wheel_with_both_commands(pipx_bin: Path, tmp_path: Path) -> None:
    assert {"hive", "hive-harness"} <= {p.name for p in pipx_bin.iterdir()}
    hive_harness_help(pipx_bin, tmp_path)


@needs_sandbox
@needs_claude
def test_a_pipx_install_runs_a_sandboxed_harness_too(pipx_bin: Path, tmp_path: Path, user_bin: Path) -> None:
    init_and_reconcile(pipx_bin, tmp_path, user_bin)


def hive_harness_help(bin_dir: Path, tmp_path: Path) -> None:
    done = checked([bin_dir / "hive-harness", "--help"], cwd=tmp_path, env=outside_env(bin_dir))
    assert "serve" in done.stdout and "Traceback" not in done.stderr


def init_and_reconcile(bin_dir: Path, tmp_path: Path, user_bin: Path) -> None:
    """`hive init`, one `hive reconcile`, `hive status`, `hive-harness --help` from ``bin_dir``."""
    state, work = tmp_path / "state", tmp_path / "work"
    work.mkdir()
    env = outside_env(bin_dir, user_bin)

    def hive(*args: str) -> str:
        return checked([bin_dir / "hive", *args, "--state-dir", state], cwd=work, env=env).stdout

    assert "meta repo" in hive("init")
    applied = hive("reconcile")
    assert "in bubblewrap" in applied and "1 succeeded, 0 failed" in applied, applied
    (manager,) = json.loads(hive("status", "--json"))["agents"]
    ready = next(c for c in manager["conditions"] if c["type"] == "Ready")
    assert ready["status"] is True, manager
    # The harness reads its prompt before it says hello; where from is in its log: the installed
    # package (pipx's bin dir holds links into the app's own venv), not any checkout.
    venv = (bin_dir / "hive").resolve().parent.parent
    (prompts,) = venv.glob("lib/python*/site-packages/hive_harness/system_prompts")
    log = (state / "agents" / "manager" / "agent.log").read_text()
    assert f"manager: manager system prompt from {prompts / 'manager.md'}" in log, log[-2000:]
    assert str(REPO_ROOT) not in log and "Traceback" not in log, log[-2000:]
    hive_harness_help(bin_dir, tmp_path)
