"""What an agent's agent.nix may not set: the ``hyperhive.*`` options, read-only views of its JSON.

Desired state drives Nix in one direction: an agent's model, recipients, MCP
servers and the rest live in ``agents/<name>.json`` (and ``hive.json``); the
container module `reconciler/nix/harness-base.nix` exposes them as
``hyperhive.*`` options for agent.nix to read, and fails the build if
agent.nix sets one. This module refuses such an agent.nix earlier, at the
push, naming the JSON field to change instead (``SOURCES`` is the same table
harness-base.nix holds; tests/nixos/test_agent_options.py compares the two).

The check reads the text, not an evaluation (a meta repo host need not have
Nix): comments and strings are dropped, then each binding's attribute path
is followed through the ``name = { ... }`` sets that enclose it. It refuses
``hyperhive.model = ...``, ``config.hyperhive = { ... }``, ``"hyperhive".x``,
``inherit (x) hyperhive;``, ``options.hyperhive.*`` and the same under
``mkIf``/``mkMerge``/``mkForce``. Its limits: a set built elsewhere and
returned (``let m = { hyperhive.model = 1; }; in m``), ``setAttrByPath``,
interpolated attribute names or an imported file pass it; the build-time
assertion still refuses those, with the same message.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from hive_kit.errors import Problem

NAMESPACE = "hyperhive"


@dataclass(frozen=True)
class Source:
    """Where a ``hyperhive.*`` option's value comes from, and how to change it there."""

    origin: str  # "{file} `field`" or a sentence; {name} is the agent
    fix: str


SOURCES: dict[str, Source] = {
    "configFile": Source(
        "the launch config the reconciler renders from desired state", "change the agent's JSON instead"
    ),
    "name": Source(
        "agents/{name}.json `name`",
        "an agent's name is its file name: add one under the new name and remove this one",
    ),
    "role": Source("agents/{name}.json `role`", "hive agent set {name} role agent"),
    "model": Source("agents/{name}.json `model`", "hive agent set {name} model opus"),
    "operatorPronouns": Source("hive.json `operator_pronouns`", "hive desired edit"),
    "allowedRecipients": Source(
        "agents/{name}.json `allowed_recipients`", "hive agent set {name} allowed_recipients manager,operator"
    ),
    "extraMcpServers": Source("agents/{name}.json `extra_mcp_servers`", "hive desired edit"),
    "uid": Source(
        "the daemon's allocation (services.hyperhive.agentUids)",
        "nothing to set: each agent gets its own uid",
    ),
    "package": Source(
        "the host's hyperhive (the meta flake's hyperhive input)", "upgrade hyperhive on the host"
    ),
    "claudePackage": Source(
        "the host's nixpkgs (the meta flake's nixpkgs input)", "upgrade nixpkgs on the host"
    ),
}

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<comment>\#[^\n]*|/\*.*?\*/)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_'-]*)
  | (?P<op>==|!=|<=|>=|\+\+|//|->|\$\{|[{}();=.\[\],:?@])
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_KEYWORDS = frozenset({"let", "in", "rec", "with", "assert", "if", "then", "else", "inherit", "or"})
_PLAIN_STRING = re.compile(r'"([A-Za-z_][A-Za-z0-9_\'-]*)"')


@dataclass(frozen=True)
class _Token:
    kind: str  # ident, string (an attribute name spelled as a string), op, other
    text: str
    line: int


def _skip_string(text: str, start: int, quote: str) -> tuple[int, str | None]:
    """Skip a string starting after its opening quote; returns (end, name if it is a plain name)."""
    i = start
    depth = 0
    while i < len(text):
        if quote == '"' and text[i] == "\\":
            i += 2
            continue
        if quote == "''" and text.startswith("''", i) and text[i + 2 : i + 3] in ("$", "'", "\\"):
            i += 3 if text[i + 2] != "\\" else 4
            continue
        if text.startswith("${", i):
            depth, i = depth + 1, i + 2
            continue
        if depth and text[i] == "}":
            depth, i = depth - 1, i + 1
            continue
        if not depth and text.startswith(quote, i):
            end = i + len(quote)
            plain = _PLAIN_STRING.fullmatch('"' + text[start:i] + '"') if quote == '"' else None
            return end, plain.group(1) if plain else None
        i += 1
    return len(text), None


def _tokens(text: str) -> Iterator[_Token]:
    """Nix tokens without comments and whitespace; a string is one token (its name if plain)."""
    i, line = 0, 1
    while i < len(text):
        for quote in ('"', "''"):
            if text.startswith(quote, i):
                end, name = _skip_string(text, i + len(quote), quote)
                yield _Token("string", name or "", line)
                line += text.count("\n", i, end)
                i = end
                break
        else:
            found = _TOKEN.match(text, i)
            if found is None:  # unreachable: `other` matches any character
                return
            kind = found.lastgroup or "other"
            if kind not in ("space", "comment"):
                yield _Token(kind, found.group(), line)
            line += found.group().count("\n")
            i = found.end()


@dataclass
class _Frame:
    prefix: tuple[str, ...]  # attribute path of this set ("?" for a set that is not a module attribute)
    pending: tuple[str, ...] | None = None  # the binding whose value is being read
    start: bool = True  # at a place where a binding may begin
    in_let: bool = False
    lets: list[tuple[str, ...] | None] = field(default_factory=list)  # the binding a `let` is inside
    statements: int = 0  # `with x;` / `assert x;` whose `;` ends no binding


def _hyperhive_field(path: tuple[str, ...]) -> str | None:
    """The hyperhive.* option ``path`` sets ("" for the whole namespace), else None."""
    if path[:1] in (("config",), ("options",)):
        path = path[1:]
    if path[:1] != (NAMESPACE,):
        return None
    return path[1] if len(path) > 1 else ""


class _Scanner:
    """Walks the tokens once, keeping a frame per enclosing ``{ }`` (see the module docstring)."""

    def __init__(self, text: str) -> None:
        self.tokens = list(_tokens(text))
        self.stack = [_Frame(())]
        self.found: list[tuple[tuple[str, ...], int]] = []

    def run(self) -> list[tuple[tuple[str, ...], int]]:
        i = 0
        while i < len(self.tokens):
            frame, tok = self.stack[-1], self.tokens[i]
            if frame.start and tok.text == "inherit":
                i = self._inherit(frame, i + 1)
            elif frame.start and tok.kind in ("ident", "string") and tok.text and tok.text not in _KEYWORDS:
                i = self._binding(frame, i)
            else:
                self._structure(frame, tok.text)
                i += 1
        return self.found

    def _binding(self, frame: _Frame, i: int) -> int:
        """At ``name.path =``: record it and read its value; anything else is an expression."""
        tokens, j = self.tokens, i + 1
        path = [tokens[i].text]
        while j + 1 < len(tokens) and tokens[j].text == "." and tokens[j + 1].kind in ("ident", "string"):
            path.append(tokens[j + 1].text or "?")
            j += 2
        if j < len(tokens) and tokens[j].text == "=":
            if not frame.in_let:
                self.found.append((frame.prefix + tuple(path), tokens[i].line))
            frame.pending = ("?",) if frame.in_let else tuple(path)
            frame.start = False
            return j + 1
        frame.start = False
        return i + 1

    def _inherit(self, frame: _Frame, j: int) -> int:
        """``inherit (x) a b;`` binds a and b in this set."""
        tokens, depth = self.tokens, 0
        while j < len(tokens) and (depth or tokens[j].text == "("):
            depth += {"(": 1, ")": -1}.get(tokens[j].text, 0)
            j += 1
        while j < len(tokens) and tokens[j].text != ";":
            if tokens[j].kind in ("ident", "string") and not frame.in_let:
                self.found.append(((*frame.prefix, tokens[j].text), tokens[j].line))
            j += 1
        return j

    def _structure(self, frame: _Frame, text: str) -> None:
        frame.start = False
        if text in ("{", "${"):
            inside = frame.prefix + (frame.pending or ())
            self.stack.append(_Frame(() if inside == ("imports",) else inside))  # a module in imports
        elif text == "}" and len(self.stack) > 1:
            self.stack.pop()
        elif text in ("with", "assert"):
            frame.statements += 1
        elif text == ";" and frame.statements:
            frame.statements -= 1
        elif text == ";":
            frame.pending, frame.start = None, True
        elif text == "let":
            frame.lets.append(frame.pending)
            frame.in_let, frame.start = True, True
        elif text == "in" and frame.lets:
            frame.pending = frame.lets.pop()
            frame.in_let = bool(frame.lets)


def bindings(text: str) -> list[tuple[tuple[str, ...], int]]:
    """Every attribute path agent.nix binds in a module attribute set, with its line."""
    return _Scanner(text).run()


def check_agent_nix(file: str, name: str, text: str) -> Iterator[Problem]:
    """A problem for each ``hyperhive.*`` option ``text`` (agents/<name>/agent.nix) sets."""
    found = [(path, line) for path, line in bindings(text) if _hyperhive_field(path) is not None]
    for path, line in found:
        if any(other[: len(path)] == path and len(other) > len(path) for other, _ in found):
            continue  # `hyperhive = { model = ...; }`: named by the inner binding
        option = _hyperhive_field(path) or ""
        where = f"line {line}: {'.'.join(path)}"
        source = SOURCES.get(option)
        if source is None:
            listing = ", ".join(SOURCES)
            yield Problem(
                file,
                where,
                f"sets hyperhive options, which are read-only views of agents/{name}.json ({listing})",
                f"remove it; change agents/{name}.json or hive.json instead "
                f"(hive agent set {name} FIELD VALUE)",
            )
            continue
        origin = source.origin.format(name=name)
        yield Problem(
            file,
            where,
            f"hyperhive.{option} is set from {origin}; agent.nix may read it but not set it",
            f"remove it from agent.nix; change it there: {source.fix.format(name=name)}",
        )
