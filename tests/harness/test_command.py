"""Building the claude command line, MCP config and environment (pure), and the tool policy's flags
against the real claude CLI (the scripted Messages API is the only stand-in)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hive_harness.command import (
    BUILTIN_TOOLS,
    ClaudeArgs,
    HarnessConfigError,
    allowed_tools,
    child_env,
    claude_argv,
    credential_fingerprint,
    disallowed_tools,
    mcp_config,
    offered_tools,
    parse_secrets,
    resolve_claude_bin,
)
from hive_kit.envfile import has_credentials
from hive_kit.launch import AgentLaunchConfig, LaunchMcpServer
from tests.harness.conftest import CLAUDE, needs_claude
from tests.seams.scripted_api import Reply, ScriptedAPI, ToolUse, text


def _launch(**kw: object) -> AgentLaunchConfig:
    return AgentLaunchConfig(name="coder", role="agent", model="haiku", **kw)  # type: ignore[arg-type]


def _args(**kw: object) -> ClaudeArgs:
    base = {
        "prompt": "-hello",
        "model": "sonnet",
        "mcp_config_path": Path("/state/.hive/mcp.json"),
        "system_prompt": "SP",
    }
    return ClaudeArgs(**{**base, **kw})  # type: ignore[arg-type]


def test_argv_has_the_headless_flags_model_continue_and_prompt_last() -> None:
    argv = claude_argv("/bin/claude", _launch(), _args())
    assert argv[:5] == ["/bin/claude", "--print", "--output-format", "stream-json", "--verbose"]
    assert argv[argv.index("--model") + 1] == "sonnet"
    assert argv[argv.index("--mcp-config") + 1] == "/state/.hive/mcp.json"
    assert "--strict-mcp-config" in argv
    assert "--continue" in argv
    assert argv[argv.index("--append-system-prompt") + 1] == "SP"
    assert argv[-2:] == ["--", "-hello"]  # a prompt starting with "-" is not a flag


def test_new_session_drops_continue() -> None:
    assert "--continue" not in claude_argv("claude", _launch(), _args(continue_session=False))


def test_allowed_tools_cover_hyperhive_and_each_extra_server() -> None:
    extras = {
        "matrix": LaunchMcpServer(command="mx", allowed_tools=["send_message", "join_room"]),
        "web": LaunchMcpServer(command="w"),
    }
    tools = allowed_tools(_launch(extra_mcp_servers=extras))
    assert tools[0] == "mcp__hyperhive__*"
    assert "mcp__matrix__send_message" in tools and "mcp__matrix__join_room" in tools
    assert "mcp__web__*" in tools
    assert "mcp__matrix__*" not in tools


def test_mcp_config_launches_our_server_and_the_extras() -> None:
    extras = {"web": LaunchMcpServer(command="w", args=["--x"], env={"K": "v"})}
    doc = mcp_config(_launch(extra_mcp_servers=extras), {"HIVE_SOCKET": "/run/hive/hive.sock"})
    servers = doc["mcpServers"]
    assert isinstance(servers, dict)
    ours = servers["hyperhive"]
    assert ours["args"][-4:] == ["hive_harness", "mcp", "--role", "agent"]
    assert ours["env"] == {"HIVE_SOCKET": "/run/hive/hive.sock"}
    assert servers["web"] == {"type": "stdio", "command": "w", "args": ["--x"], "env": {"K": "v"}}


def test_an_extra_server_keyed_hyperhive_is_refused() -> None:
    with pytest.raises(HarnessConfigError, match="may not be keyed 'hyperhive'"):
        mcp_config(_launch(extra_mcp_servers={"hyperhive": LaunchMcpServer(command="evil")}), {})


def test_secrets_file_keeps_only_credentials_and_home_is_in_the_state_dir(tmp_path: Path) -> None:
    secrets = parse_secrets(
        "# key\nexport ANTHROPIC_API_KEY='sk-1'\nANTHROPIC_BASE_URL=http://x\nPATH=/evil\n\nnoise"
    )
    assert secrets == {"ANTHROPIC_API_KEY": "sk-1", "ANTHROPIC_BASE_URL": "http://x"}
    env = child_env({"PATH": "/usr/bin", "HOME": "/root", "CLAUDECODE": "1"}, tmp_path, secrets)
    assert env["HOME"] == str(tmp_path / "home")
    assert env["PATH"] == "/usr/bin"
    assert "CLAUDECODE" not in env
    assert env["ANTHROPIC_API_KEY"] == "sk-1"
    # claude waits for our MCP server before the first call, longer than its 5 s default
    assert env["MCP_CONNECTION_NONBLOCKING"] == "0" and int(env["MCP_CONNECT_TIMEOUT_MS"]) >= 30000


def test_credentials_come_from_a_key_or_the_oauth_file(tmp_path: Path) -> None:
    assert not has_credentials({"HOME": str(tmp_path)})
    assert has_credentials({"HOME": str(tmp_path), "ANTHROPIC_API_KEY": "k"})
    (tmp_path / ".claude").mkdir()
    (tmp_path / ".claude" / ".credentials.json").write_text("{}")
    assert has_credentials({"HOME": str(tmp_path)})


def test_claude_binary_resolution_order(tmp_path: Path) -> None:
    assert resolve_claude_bin({"HIVE_CLAUDE_BIN": "/opt/claude"}, tmp_path) == "/opt/claude"
    with pytest.raises(HarnessConfigError, match="npm install"):
        resolve_claude_bin({"PATH": str(tmp_path)}, tmp_path)
    local = tmp_path / "node_modules" / ".bin"
    local.mkdir(parents=True)
    (local / "claude").write_text("")
    assert resolve_claude_bin({"PATH": ""}, tmp_path) == str(local / "claude")


def test_credential_fingerprint_changes_only_when_credentials_do(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "ANTHROPIC_API_KEY": "refused-key", "PATH": "/bin"}
    before = credential_fingerprint(env)
    assert credential_fingerprint({**env, "PATH": "/usr/bin"}) == before  # unrelated change
    assert credential_fingerprint({**env, "ANTHROPIC_API_KEY": "new-key"}) != before
    (tmp_path / ".claude").mkdir()
    (tmp_path / ".claude" / ".credentials.json").write_text("{}")  # a finished login flow
    assert credential_fingerprint(env) != before


# ---- tool policy (desired state's allowed_tools / bash_allow) -------------------------------------


def _flag(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None


def test_without_a_policy_the_flags_are_as_before() -> None:
    argv = claude_argv("claude", _launch(), _args())
    assert _flag(argv, "--allowedTools") == ",".join(["mcp__hyperhive__*", *BUILTIN_TOOLS])
    assert "--tools" not in argv and "--disallowedTools" not in argv and "--setting-sources" not in argv


def test_bash_allow_replaces_plain_bash_with_one_rule_each() -> None:
    launch = _launch(bash_allow=["git *", "pytest *"])
    tools = allowed_tools(launch)
    assert "Bash" not in tools
    assert tools[-2:] == ["Bash(git *)", "Bash(pytest *)"]
    assert "Read" in tools and "Edit" in tools  # the rest of the default set stays
    argv = claude_argv("claude", launch, _args())
    assert "--tools" not in argv and "--disallowedTools" not in argv
    assert _flag(argv, "--setting-sources") == ""  # a settings.json the agent writes must not widen it


def test_an_empty_bash_allow_disallows_bash_outright() -> None:
    launch = _launch(bash_allow=[])
    assert not [t for t in allowed_tools(launch) if t.startswith("Bash")]
    assert disallowed_tools(launch) == ["Bash"]
    assert _flag(claude_argv("claude", launch, _args()), "--disallowedTools") == "Bash"


def test_allowed_tools_offer_only_those_built_in_tools() -> None:
    launch = _launch(
        allowed_tools=["Read", "WebFetch(domain:docs.python.org)"],
        extra_mcp_servers={"gh": LaunchMcpServer(command="gh", allowed_tools=["search"])},
    )
    assert allowed_tools(launch) == [
        "mcp__hyperhive__*",
        "mcp__gh__search",
        "Read",
        "WebFetch(domain:docs.python.org)",
    ]
    assert offered_tools(launch) == ["Read", "WebFetch"]
    with_bash = _launch(allowed_tools=["Read"], bash_allow=["git *"])
    assert offered_tools(with_bash) == ["Read", "Bash"]
    assert offered_tools(_launch(allowed_tools=[])) == []
    argv = claude_argv("claude", launch, _args())
    assert _flag(argv, "--tools") == "Read,WebFetch"
    assert argv[-2:] == ["--", "-hello"]


# ---- the same flags, against the real claude CLI ---------------------------------------------------


def _claude_turn(
    tmp_path: Path,
    launch: AgentLaunchConfig,
    *commands: str,
    first: Reply | None = None,
    mcp_servers: str = "{}",
) -> tuple[list[str], Path]:
    """One real claude turn whose scripted model runs ``commands`` with Bash (or makes the ``first``
    reply's calls); the tool results, the cwd."""
    cwd, home = tmp_path / "state", tmp_path / "state" / "home"
    home.mkdir(parents=True, exist_ok=True)
    mcp = tmp_path / "mcp.json"
    mcp.write_text(f'{{"mcpServers": {mcp_servers}}}')
    with ScriptedAPI() as api:
        bash = Reply(blocks=tuple(ToolUse("Bash", {"command": c, "description": "x"}) for c in commands))
        api.push(first or bash, text("done"))
        env = child_env({**os.environ, **api.env()}, cwd, {})
        args = ClaudeArgs(
            prompt="go", model="sonnet", mcp_config_path=mcp, system_prompt="", continue_session=False
        )
        run = subprocess.run(
            claude_argv(str(CLAUDE), launch, args),
            cwd=cwd,
            env=env,
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stderr[-2000:]
        mains = api.main_requests()
    assert len(mains) == 2, "the scripted tool calls were not answered"
    return mains[1].tool_results(), cwd


@needs_claude
def test_bash_allow_runs_a_listed_command_and_refuses_the_rest(tmp_path: Path) -> None:
    listed = "python3 -c \"open('by-python', 'w').write('x')\""
    results, cwd = _claude_turn(
        tmp_path / "a",
        _launch(bash_allow=["python3 *"]),
        listed,
        "touch by-touch",
        "python3 -V && touch by-and",
    )
    assert (cwd / "by-python").exists(), results
    assert not (cwd / "by-touch").exists() and not (cwd / "by-and").exists(), results
    assert "blocked" in results[1] or "approval" in results[1] or "permission" in results[1]


@needs_claude
def test_a_settings_file_the_agent_wrote_does_not_widen_its_bash(tmp_path: Path) -> None:
    """The agent can write its home and working dir: claude must read no allow rules (or hooks) there."""
    root = tmp_path / "b"
    for where in (root / "state" / ".claude", root / "state" / "home" / ".claude"):
        where.mkdir(parents=True)
        (where / "settings.json").write_text(json.dumps({"permissions": {"allow": ["Bash"]}}))
    results, cwd = _claude_turn(root, _launch(bash_allow=["python3 *"]), "touch planted")
    assert not (cwd / "planted").exists(), results


@needs_claude
def test_no_bash_means_not_even_read_only_commands(tmp_path: Path) -> None:
    """claude runs `echo` without asking when Bash is merely left out of --allowedTools; [] must stop that."""
    results, _ = _claude_turn(tmp_path / "c", _launch(bash_allow=[]), "echo leaked-$((6*7))")
    assert "leaked-42" not in results[0] and "No such tool" in results[0]
    unrestricted, cwd = _claude_turn(tmp_path / "d", _launch(), "touch anything-goes")
    assert (cwd / "anything-goes").exists(), unrestricted  # the default: Bash as before


@needs_claude
def test_allowed_tools_hide_the_other_built_in_tools(tmp_path: Path) -> None:
    results, cwd = _claude_turn(tmp_path / "e", _launch(allowed_tools=["Read"]), "touch by-bash")
    assert "No such tool" in results[0] and not (cwd / "by-bash").exists()


SLOW_SERVER = """
import time
time.sleep(8)  # a stdio server still importing on a loaded host
from mcp.server.mcpserver import MCPServer
server = MCPServer("hyperhive")

@server.tool()
def whoami() -> str:
    return "pong from the slow server"

server.run()
"""


@needs_claude
def test_the_first_call_of_a_turn_waits_for_a_slow_starting_mcp_server(tmp_path: Path) -> None:
    """claude waits for our server (up to MCP_CONNECT_TIMEOUT_MS) before the model's first call.

    With claude's 5 s default, a stdio server that took longer to start was not there for the
    turn's first call ("No such tool available"): CI saw that as a lost message under load.
    Real claude and a real stdio MCP server that sleeps 8 s; the model is the scripted API."""
    server = {"hyperhive": {"type": "stdio", "command": sys.executable, "args": ["-c", SLOW_SERVER]}}
    first = Reply(blocks=(ToolUse("mcp__hyperhive__whoami", {}),))
    results, _ = _claude_turn(tmp_path, _launch(), first=first, mcp_servers=json.dumps(server))
    assert len(results) == 1 and "pong from the slow server" in results[0], results
