"""Rules beyond types: name shapes, one manager, recipients that exist, MCP keys, egress and tool patterns,
the max_agents cap.

Each rule yields ``Problem``s naming the file, the JSON path, what is wrong
and how to fix it. Rules never stop at the first problem: an operator fixing
a push wants the whole list at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from desired.egress import PATTERN_FIX, PatternError, parse_pattern
from desired.schema import AgentSpec, DesiredState, McpServer, SwarmSettings
from desired.seeds import check_owners
from desired.tools import check_tool_policy
from hive_kit.errors import Problem
from hive_kit.names import BROADCAST, MANAGER_ALIAS, NAME_FIX, OPERATOR, Role, name_problem

HIVE_FILE = "hive.json"
AGENTS_DIR = "agents"
RESERVED_MCP_KEY = "hyperhive"
MAX_DESCRIPTION = 4000
_MODEL_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\[\]-]*")
_MCP_KEY_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


def agent_file(name: str) -> str:
    return f"{AGENTS_DIR}/{name}.json"


def check_model(file: str, path: str, model: str) -> Iterator[Problem]:
    if not _MODEL_RE.fullmatch(model) or len(model) > 100:
        yield Problem(
            file,
            path,
            f"{model!r} is not a model name",
            'use a Claude model alias or id such as "sonnet", "opus", "haiku" or "claude-sonnet-4-5"',
        )


def check_mcp_servers(file: str, base: str, servers: dict[str, McpServer]) -> Iterator[Problem]:
    for key, server in servers.items():
        path = f"{base}.{key}"
        if key.lower() == RESERVED_MCP_KEY:
            yield Problem(
                file,
                path,
                "the server name 'hyperhive' is taken by hyperhive's own tools",
                "give this server another key, such as 'hyperhive-extra'",
            )
        elif not _MCP_KEY_RE.fullmatch(key) or "__" in key:
            yield Problem(
                file,
                path,
                f"{key!r} is not a usable MCP server key (claude names its tools mcp__<key>__<tool>)",
                "use letters, digits, single underscores and hyphens, starting with a letter or digit",
            )
        if not server.command.strip():
            yield Problem(file, f"{path}.command", "the command is empty", "set the executable to run")
        for i, tool in enumerate(server.allowed_tools):
            if not tool.strip():
                yield Problem(
                    file,
                    f"{path}.allowed_tools[{i}]",
                    "empty tool pattern",
                    'remove it, or use "*" to allow every tool of this server',
                )


def check_settings(settings: SwarmSettings, file: str = HIVE_FILE) -> Iterator[Problem]:
    pronouns = settings.operator_pronouns
    if not pronouns.strip() or len(pronouns) > 40:
        yield Problem(
            file,
            "$.operator_pronouns",
            "must be 1–40 characters",
            'for example "she/her" or "they/them"',
        )
    yield from check_model(file, "$.default_model", settings.default_model)
    yield from check_mcp_servers(
        file, "$.agent_defaults.extra_mcp_servers", settings.agent_defaults.extra_mcp_servers
    )
    yield from check_egress(file, "$.egress", settings.egress)
    if settings.kubernetes_namespace is not None:
        why = dns_label_problem(settings.kubernetes_namespace)
        if why is not None:
            yield Problem(file, "$.kubernetes_namespace", why, NAMESPACE_FIX)


NAMESPACE_FIX = (
    'use at most 63 lowercase letters, digits and "-", starting and ending with a letter or digit, '
    'e.g. "hyperhive"'
)
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def dns_label_problem(text: str) -> str | None:
    """Why ``text`` is not a DNS-1123 label (what Kubernetes accepts as a namespace), or None."""
    if len(text) > 63:
        return f"{text[:20]!r}... is {len(text)} characters; a namespace has at most 63"
    if not _DNS_LABEL.fullmatch(text):
        return f"{text!r} is not a DNS-1123 label, so it cannot be a Kubernetes namespace"
    return None


def check_egress(file: str, base: str, patterns: Iterable[str]) -> Iterator[Problem]:
    """Each entry parses as a host pattern (``desired.egress``) and is listed once."""
    seen: set[str] = set()
    for i, text in enumerate(patterns):
        path = f"{base}[{i}]"
        try:
            pattern = str(parse_pattern(text))
        except PatternError as exc:
            yield Problem(file, path, str(exc), PATTERN_FIX)
            continue
        if pattern in seen:
            yield Problem(file, path, f"{text!r} is listed twice", "remove the duplicate")
        seen.add(pattern)


def check_agent(spec: AgentSpec, file: str) -> Iterator[Problem]:
    """Rules that need only the one file."""
    stem = file.removeprefix(f"{AGENTS_DIR}/").removesuffix(".json")
    why = name_problem(stem)
    if why is not None:
        yield Problem(file, "$", f"the file name is not a valid agent name: {why}", NAME_FIX)
    elif spec.name != stem:
        yield Problem(
            file,
            "$.name",
            f"name {spec.name!r} does not match the file name {stem!r}",
            f'set "name" to "{stem}", or rename the file to agents/{spec.name}.json',
        )
    if spec.model is not None:
        yield from check_model(file, "$.model", spec.model)
    if len(spec.description) > MAX_DESCRIPTION:
        yield Problem(
            file,
            "$.description",
            f"is {len(spec.description)} characters; the limit is {MAX_DESCRIPTION}",
            "shorten it and keep longer notes in the agent's state dir",
        )
    yield from check_mcp_servers(file, "$.extra_mcp_servers", spec.extra_mcp_servers)
    if spec.egress is not None:
        yield from check_egress(file, "$.egress", spec.egress)
    yield from check_tool_policy(file, spec.allowed_tools, spec.bash_allow)


def _check_recipients(file: str, base: str, recipients: Iterable[str], known: set[str]) -> Iterator[Problem]:
    seen: set[str] = set()
    special = {MANAGER_ALIAS, OPERATOR, BROADCAST}
    for i, recipient in enumerate(recipients):
        path = f"{base}[{i}]"
        if recipient in seen:
            yield Problem(file, path, f"{recipient!r} is listed twice", "remove the duplicate")
        seen.add(recipient)
        if recipient in special or recipient in known:
            continue
        listing = ", ".join(sorted(known)) or "none"
        yield Problem(
            file,
            path,
            f"{recipient!r} is not an agent of this swarm",
            f"use an agent name ({listing}), 'manager', 'operator' or '*'; or add agents/{recipient}.json",
        )


def check_swarm(state: DesiredState, unparsed: frozenset[str] = frozenset()) -> Iterator[Problem]:
    """Cross-object rules over the whole swarm.

    ``unparsed`` names agent files that failed their own checks: they count as
    existing (so peers naming them are not blamed) and the manager count is
    not judged until they parse.
    """
    managers = [a for a in state.agents.values() if a.role is Role.MANAGER]
    if not managers and not unparsed:
        yield Problem(
            AGENTS_DIR + "/",
            "$",
            "no agent has role 'manager'; a swarm needs exactly one",
            'set "role": "manager" in one agent file (`hive init` names it manager)',
        )
    for extra in managers[1:]:
        yield Problem(
            agent_file(extra.name),
            "$.role",
            f"a second manager: {agent_file(managers[0].name)} is already the manager",
            'set "role": "agent" in all but one of them',
        )
    named = state.agents.get(MANAGER_ALIAS)
    if named is not None and named.role is not Role.MANAGER:
        yield Problem(
            agent_file(MANAGER_ALIAS),
            "$.role",
            "an agent named 'manager' must be the manager: agents address the manager by that name",
            'set "role": "manager" here, or rename this agent',
        )
    yield from check_max_agents(state, unparsed)
    known = set(state.agents) | unparsed
    for spec in state.agents.values():
        yield from _check_recipients(
            agent_file(spec.name), "$.allowed_recipients", spec.allowed_recipients, known
        )
    yield from _check_recipients(
        HIVE_FILE,
        "$.agent_defaults.allowed_recipients",
        state.settings.agent_defaults.allowed_recipients,
        known,
    )
    for name in state.agent_nix:
        if name not in state.agents:
            yield Problem(
                f"{AGENTS_DIR}/{name}/agent.nix",
                "$",
                f"belongs to no agent: {agent_file(name)} does not exist",
                f"add {agent_file(name)} or delete this file",
            )
    yield from check_owners(state.seeds, known)


def check_max_agents(state: DesiredState, unparsed: frozenset[str] = frozenset()) -> Iterator[Problem]:
    """hive.json's ``max_agents`` bounds the whole swarm; the message says by how much."""
    cap = state.settings.max_agents
    count = len(set(state.agents) | unparsed)
    if cap is not None and count > cap:
        over = count - cap
        yield Problem(
            HIVE_FILE,
            "$.max_agents",
            f"{count} agents; hive.json max_agents is {cap}",
            f"remove {over} agent{'s' if over != 1 else ''} or raise max_agents",
        )
