"""Building one `claude` invocation: pure functions from the launch config to argv, env and MCP config.

Why these flags (docs/harness.md has the long form):

- ``--print --output-format stream-json --verbose``: headless, one JSON event
  per line; stream-json requires ``--verbose``.
- ``--mcp-config FILE --strict-mcp-config``: exactly our servers (hyperhive +
  the agent's extras from desired state), nothing the agent wrote into its
  own ``~/.claude.json``.
- ``--allowedTools``: ``mcp__hyperhive__*``, ``mcp__<key>__<pattern>`` per
  extra server, and the built-in tools of the agent's policy (desired state's
  ``allowed_tools``, else ``BUILTIN_TOOLS``; ``bash_allow`` turns plain
  ``Bash`` into one ``Bash(<pattern>)`` each); anything else is denied in
  ``--print`` mode (there is nobody to ask), except that claude runs
  read-only commands (``echo``, ``cat``, ``ls``, ``git status`` in its working
  directory) without asking whatever the rules say.
- With a policy set: ``--tools`` offers the model only the policy's built-in
  tools, ``--disallowedTools Bash`` takes Bash away entirely when
  ``bash_allow`` is ``[]`` (the read-only exception above included), and
  ``--setting-sources ""`` loads no settings file: the agent can write its
  home and working directory, and a ``settings.json`` there would otherwise
  add allow rules (or hooks) of its own.
- ``--model``: desired state's model, or the runtime override.
- ``--continue``: one session per agent (cwd is always the state dir, and
  ``--continue`` resumes the latest session *of the cwd*); "new session"
  leaves it out once.
- ``--append-system-prompt``: our role prompt on top of Claude Code's own
  (which documents its built-in tools).

Our own MCP server is either the harness's persistent one (streamable HTTP
on 127.0.0.2, in NO_PROXY, with a bearer token per server start) or, as the
fallback, a stdio child claude launches every turn.

Network: in its sandbox claude has only loopback; the harness passes the
egress forwarder's HTTP(S)_PROXY in the base environment (``serve.py``), so
every claude, and every command its Bash tool runs, goes out through the
host's proxy. ``HIVE_CLAUDE_BIN`` is set by the local runtime to the real
file it bound into the sandbox (a link into the operator's home would not
resolve there).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from hive_kit.broker import BROKER_ENV
from hive_kit.envfile import CREDENTIAL_KEYS, LOGIN_FILE, parse_env
from hive_kit.launch import ENV_CONFIG, ENV_META, ENV_SOCKET, ENV_STATE, AgentLaunchConfig

SERVER_NAME = "hyperhive"
ENV_CLAUDE_BIN = "HIVE_CLAUDE_BIN"
ENV_MCP_TRANSPORT = "HIVE_MCP_TRANSPORT"
MCP_TRANSPORTS = ("http", "stdio")
REPO_ROOT = Path(__file__).resolve().parent.parent
BUILTIN_TOOLS = (
    "Bash",
    "Read",
    "Write",
    "Edit",
    "MultiEdit",
    "Glob",
    "Grep",
    "NotebookEdit",
    "TodoWrite",
    "WebFetch",
    "WebSearch",
)
_CHILD_DEFAULTS = {
    # Wait for our MCP server before the first API call: otherwise a turn that starts while
    # `hive-harness mcp` is still importing gets "No such tool available: mcp__hyperhive__send"
    # (with the persistent server the wait is one local HTTP round trip).
    "MCP_CONNECTION_NONBLOCKING": "0",
    # ... and wait long enough: claude caps that wait at MCP_CONNECT_TIMEOUT_MS (5 s by default),
    # then starts the turn without the server. A stdio server on a loaded host took longer (the
    # turn ran without the hive tools). 60 s bounds what a broken server can cost a turn.
    "MCP_CONNECT_TIMEOUT_MS": "60000",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_ERROR_REPORTING": "1",
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
}


class HarnessConfigError(ValueError):
    """The launch config cannot be turned into a claude invocation (say what and how to fix)."""


def resolve_claude_bin(env: Mapping[str, str], repo_root: Path = REPO_ROOT) -> str:
    """`HIVE_CLAUDE_BIN`, else `<repo>/node_modules/.bin/claude`, else `claude` on PATH."""
    explicit = env.get(ENV_CLAUDE_BIN)
    if explicit:
        return explicit
    local = repo_root / "node_modules" / ".bin" / "claude"
    if local.exists():
        return str(local)
    found = shutil.which("claude", path=env.get("PATH"))
    if found:
        return found
    raise HarnessConfigError(
        "no claude CLI: put Claude Code's `claude` on PATH (npm install -g @anthropic-ai/claude-code) "
        "or set HIVE_CLAUDE_BIN to it; in a checkout, `npm install` at the repo root installs it"
    )


@dataclass(frozen=True)
class McpEndpoint:
    """Where the harness's persistent MCP server listens, and the token it wants."""

    url: str
    token: str

    def entry(self) -> dict[str, object]:
        return {"type": "http", "url": self.url, "headers": {"Authorization": f"Bearer {self.token}"}}


def mcp_transport(env: Mapping[str, str]) -> str:
    """`HIVE_MCP_TRANSPORT`: `http` (default: one persistent server per agent) or `stdio` (one per turn)."""
    value = (env.get(ENV_MCP_TRANSPORT) or "http").strip().lower()
    if value not in MCP_TRANSPORTS:
        raise HarnessConfigError(
            f"{ENV_MCP_TRANSPORT}={value!r} is not one of {', '.join(MCP_TRANSPORTS)}; "
            "fix the agent's environment (unset it for the default, http)"
        )
    return value


def mcp_server_argv(role: str) -> list[str]:
    """How claude launches our MCP server: this interpreter, this checkout."""
    return [sys.executable, "-m", "hive_harness", "mcp", "--role", role]


def mcp_config(
    launch: AgentLaunchConfig, server_env: Mapping[str, str], endpoint: McpEndpoint | None = None
) -> dict[str, object]:
    """The --mcp-config document: `hyperhive`, then the agent's extras (one keyed `hyperhive` is refused).

    `hyperhive` is the persistent server at `endpoint` if given, else the stdio command.
    """
    if SERVER_NAME in launch.extra_mcp_servers:
        raise HarnessConfigError(
            f"agent {launch.name}: an extra MCP server may not be keyed {SERVER_NAME!r} "
            "(it would shadow the built-in surface); rename it in agents/<name>.json"
        )
    argv = mcp_server_argv(launch.role)
    ours = {"type": "stdio", "command": argv[0], "args": argv[1:], "env": dict(server_env)}
    servers: dict[str, object] = {SERVER_NAME: endpoint.entry() if endpoint is not None else ours}
    for key, extra in sorted(launch.extra_mcp_servers.items()):
        servers[key] = {"type": "stdio", "command": extra.command, "args": extra.args, "env": extra.env}
    return {"mcpServers": servers}


def mcp_server_env(env: Mapping[str, str]) -> dict[str, str]:
    """What our MCP server child needs: the socket (or the TLS broker), the launch config, the import path."""
    keep = (ENV_SOCKET, ENV_CONFIG, ENV_STATE, ENV_META, "PYTHONPATH", *BROKER_ENV)
    return {key: env[key] for key in keep if env.get(key)}


def _tool_name(entry: str) -> str:
    return entry.split("(", 1)[0]


def builtin_rules(launch: AgentLaunchConfig) -> list[str]:
    """The agent's built-in tool rules: its ``allowed_tools`` (or ours), Bash as ``bash_allow`` says."""
    rules = list(BUILTIN_TOOLS) if launch.allowed_tools is None else list(launch.allowed_tools)
    if launch.bash_allow is None:
        return rules
    rules = [rule for rule in rules if _tool_name(rule) != "Bash"]
    return rules + [f"Bash({pattern})" for pattern in launch.bash_allow]


def tool_policy_set(launch: AgentLaunchConfig) -> bool:
    return launch.allowed_tools is not None or launch.bash_allow is not None


def allowed_tools(launch: AgentLaunchConfig) -> list[str]:
    tools = [f"mcp__{SERVER_NAME}__*"]
    for key, extra in sorted(launch.extra_mcp_servers.items()):
        tools.extend(f"mcp__{key}__{pattern}" for pattern in extra.allowed_tools or ["*"])
    tools.extend(builtin_rules(launch))
    return tools


def offered_tools(launch: AgentLaunchConfig) -> list[str] | None:
    """``--tools``: the built-in tools the model is offered at all; None = every one (no flag).

    MCP tools are not affected by ``--tools`` (checked with the real CLI).
    """
    if launch.allowed_tools is None:
        return None
    return list(dict.fromkeys(_tool_name(rule) for rule in builtin_rules(launch)))


def disallowed_tools(launch: AgentLaunchConfig) -> list[str]:
    """``--disallowedTools``: Bash when ``bash_allow`` is ``[]`` (else read-only commands still run)."""
    return ["Bash"] if launch.bash_allow == [] else []


def tool_flags(launch: AgentLaunchConfig) -> list[str]:
    """Every flag of the agent's tool policy (module docstring: why each)."""
    flags = ["--allowedTools", ",".join(allowed_tools(launch))]
    offered = offered_tools(launch)
    if offered is not None:
        flags += ["--tools", ",".join(offered)]
    denied = disallowed_tools(launch)
    if denied:
        flags += ["--disallowedTools", ",".join(denied)]
    if tool_policy_set(launch):
        flags += ["--setting-sources", ""]
    return flags


@dataclass(frozen=True)
class ClaudeArgs:
    """One turn's choices; everything else comes from the launch config."""

    prompt: str
    model: str
    mcp_config_path: Path
    system_prompt: str
    continue_session: bool = True


def claude_argv(claude_bin: str, launch: AgentLaunchConfig, args: ClaudeArgs) -> list[str]:
    argv = [claude_bin, "--print", "--output-format", "stream-json", "--verbose"]
    argv += ["--mcp-config", str(args.mcp_config_path), "--strict-mcp-config"]
    argv += tool_flags(launch)
    argv += ["--model", args.model]
    if args.continue_session:
        argv.append("--continue")
    if args.system_prompt:
        argv += ["--append-system-prompt", args.system_prompt]
    # "--" so a prompt starting with "-" is never read as a flag.
    return [*argv, "--", args.prompt]


def parse_secrets(text: str) -> dict[str, str]:
    """The credential keys of a secrets file's text (``hive_kit.envfile``'s one reading of it)."""
    return parse_env(text, CREDENTIAL_KEYS)


def child_env(base: Mapping[str, str], state_dir: Path, secrets: Mapping[str, str]) -> dict[str, str]:
    """claude's environment: HOME inside the state dir (credentials per agent), secrets file over base."""
    env = {k: v for k, v in base.items() if not k.startswith("CLAUDECODE")}
    env.update(_CHILD_DEFAULTS)
    env.update(secrets)
    env["HOME"] = str(state_dir / "home")
    return env


def credential_fingerprint(env: Mapping[str, str]) -> tuple[object, ...]:
    """What the credentials are now: equal fingerprints mean nothing changed since claude refused them."""
    home = env.get("HOME")
    stamp: float | None = None
    if home is not None:
        with contextlib.suppress(OSError):
            stamp = (Path(home) / LOGIN_FILE).stat().st_mtime
    return (*(env.get(key) for key in CREDENTIAL_KEYS), stamp)


def write_mcp_config(path: Path, document: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(document, indent=2) + "\n")
    os.chmod(tmp, 0o600)
    tmp.replace(path)
