"""Building the claude command line, MCP config and environment (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hive_harness.command import (
    ClaudeArgs,
    HarnessConfigError,
    allowed_tools,
    child_env,
    claude_argv,
    credential_fingerprint,
    has_credentials,
    mcp_config,
    parse_secrets,
    resolve_claude_bin,
)
from hive_kit.launch import AgentLaunchConfig, LaunchMcpServer


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
