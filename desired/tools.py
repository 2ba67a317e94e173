"""Per-agent tool policy: which of Claude Code's built-in tools an agent may use, and what Bash may run.

``allowed_tools`` entries are claude's own permission-rule syntax, a tool
name (``Read``) or a name with a specifier (``WebFetch(domain:docs.python.org)``);
``bash_allow`` entries are the part inside ``Bash(...)`` (``git *``). The
harness passes them to claude as ``--allowedTools`` entries (``hive_harness.command``),
so an entry that claude would read differently from the operator is refused
here: a newline or a parenthesis inside a specifier would end one rule early
and start another. MCP tools are not listed here: each extra server has its
own ``allowed_tools`` and hyperhive's own tools are always allowed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from hive_kit.errors import Problem

MAX_ENTRY = 200
BASH = "Bash"
_TOOL = re.compile(r"(?P<name>[A-Za-z][A-Za-z0-9_]*)(?:\((?P<spec>.*)\))?", re.DOTALL)
TOOL_FIX = (
    'use a claude tool name such as "Read" or "Edit", or one with a specifier '
    'such as "WebFetch(domain:docs.python.org)"'
)
BASH_FIX = 'write the command pattern alone, on one line, e.g. "git *" or "pytest *"'


def _text_problem(text: str) -> str | None:
    if any(ch in "\n\r" or not ch.isprintable() for ch in text):
        return f"{text!r} contains a newline or control character: claude would read it as more than one rule"
    if len(text) > MAX_ENTRY:
        return f"is {len(text)} characters; the limit is {MAX_ENTRY}"
    return None


def tool_problem(entry: str, *, bash_allow_set: bool) -> tuple[str, str] | None:
    """(what is wrong, the fix) for one ``allowed_tools`` entry, or None when claude reads it as meant."""
    if not entry.strip():
        return "an empty entry allows nothing", 'remove it ("allowed_tools": [] means no built-in tools)'
    why = _text_problem(entry)
    if why is not None:
        return why, "one tool per entry, on one line"
    match = _TOOL.fullmatch(entry)
    if match is None:
        return f"{entry!r} is not a tool name or Tool(specifier)", TOOL_FIX
    name, spec = match["name"], match["spec"]
    if spec is not None and ("(" in spec or ")" in spec):
        return f"{entry!r} has a parenthesis inside its specifier: claude would end the rule early", TOOL_FIX
    if spec is not None and not spec.strip():
        return f"{entry!r} has an empty specifier", f'write just "{name}" to allow all of it'
    if name.startswith("mcp__"):
        return (
            f"{entry!r} is an MCP tool: those are allowed per server",
            "list it in extra_mcp_servers.<key>.allowed_tools (hyperhive's own tools are always allowed)",
        )
    if name == BASH and bash_allow_set:
        return (
            f"{entry!r}: bash_allow decides what Bash may run",
            "remove this entry and put the command patterns in bash_allow",
        )
    return None


def bash_problem(pattern: str) -> tuple[str, str] | None:
    """(what is wrong, the fix) for one ``bash_allow`` pattern, or None."""
    if not pattern.strip():
        return "an empty pattern allows nothing", 'remove it ("bash_allow": [] means no Bash at all)'
    why = _text_problem(pattern)
    if why is not None:
        return why, BASH_FIX
    if pattern.startswith(f"{BASH}("):
        return f"{pattern!r} is written as a rule; hyperhive adds the Bash(...) around it", BASH_FIX
    if "(" in pattern or ")" in pattern:
        return (
            f"{pattern!r} contains a parenthesis: claude reads the pattern inside Bash(...) and a ')' "
            "would end it early",
            'leave it out and match such commands with a wider pattern, e.g. "python3 *"',
        )
    return None


def check_tool_policy(
    file: str, allowed_tools: Sequence[str] | None, bash_allow: Sequence[str] | None
) -> Iterator[Problem]:
    """Problems with an agent's ``allowed_tools`` and ``bash_allow``, each at its JSON path."""
    seen: set[str] = set()
    for i, entry in enumerate(allowed_tools or ()):
        found = tool_problem(entry, bash_allow_set=bash_allow is not None)
        if found is None and entry in seen:
            found = (f"{entry!r} is listed twice", "remove the duplicate")
        seen.add(entry)
        if found is not None:
            yield Problem(file, f"$.allowed_tools[{i}]", *found)
    seen.clear()
    for i, pattern in enumerate(bash_allow or ()):
        found = bash_problem(pattern)
        if found is None and pattern.strip() in seen:
            found = (f"{pattern!r} is listed twice", "remove the duplicate")
        seen.add(pattern.strip())
        if found is not None:
            yield Problem(file, f"$.bash_allow[{i}]", *found)
