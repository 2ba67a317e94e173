"""Seed files: what a new agent finds in its ``/state`` on its first start (a brief, notes).

They live in the meta repo beside the agent's other files, ``agents/<name>/seed/<path>``, so a
draft (the manager's ``draft_agent``, or a commit it proposes) is one proposal whose diff shows
every file the agent will start with. The reconciler copies them into the state dir when it
creates the agent, never over a file that is there (``reconciler.seeding``).

Why the rules are strict: ``/state`` is the agent's working directory and its ``HOME`` parent.
What lands there steers the harness and claude (``.claude/`` settings and hooks, ``.mcp.json``,
``CLAUDE.md``, ``home/``, ``secrets.env``, the harness's sqlite files), and a seed is written by
the host, as root, before the agent exists. So a seed path is plain relative text under a short
allow-pattern, never a dotfile, never one of those names; a seed is a regular file (no symlink or
submodule) of UTF-8 text without control characters, so the diff the operator approves is all
there is to see. Every path goes through ``check_seed_file``: the push hook, proposals,
``propose_commit`` and ``draft_agent`` alike.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from hive_kit.errors import DesiredStateError, Problem

SEED_DIR = "seed"
MAX_SEED_FILE_BYTES = 64 * 1024
MAX_SEED_BYTES = 256 * 1024
MAX_SEED_FILES = 32
MAX_SEED_DEPTH = 4
MAX_COMPONENT = 64
REGULAR_MODES = frozenset({0o100644, 0o100755})

_COMPONENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._+-]*")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x1b]")
RESERVED_TOP = frozenset({"home", "meta", "secrets.env", "model-override"})
"""What the harness keeps at the top of /state: HOME (claude's login and settings), the manager's
clone, the operator's secrets, the page's model override."""
RESERVED_ANY = frozenset({"claude.md", "claude.local.md"})
"""claude reads these as instructions wherever it works; a brief is a file the agent is told of."""
_HARNESS_SUFFIXES = (".sqlite", ".sqlite-wal", ".sqlite-shm", ".sqlite-journal")
PATH_FIX = "use a plain relative path under /state such as brief.md or notes/plan.md"


def seed_prefix(name: str) -> str:
    return f"agents/{name}/{SEED_DIR}/"


def seed_file(name: str, rel: str) -> str:
    """Where seed ``rel`` of agent ``name`` lives in the meta repo."""
    return seed_prefix(name) + rel


def path_problem(rel: str) -> str | None:
    """Why ``rel`` may not be a seed path (relative to /state), or None."""
    if not rel:
        return "the path is empty"
    if rel.startswith("/"):
        return f"{rel!r} is absolute; seed paths are relative to /state"
    parts = rel.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            return f"{rel!r} has an empty, '.' or '..' component: it must stay inside /state"
        if part.startswith("."):
            return f"{rel!r}: {part!r} is a dotfile; those steer the harness or claude (.claude, .hive, …)"
        if len(part) > MAX_COMPONENT or not _COMPONENT.fullmatch(part):
            return f"{rel!r}: {part[:MAX_COMPONENT]!r} is not a plain name (letters, digits, . _ + -)"
        if part.lower() in RESERVED_ANY:
            return f"{rel!r}: claude reads {part} as instructions; name the brief brief.md instead"
    if len(parts) > MAX_SEED_DEPTH:
        return f"{rel!r} is {len(parts)} levels deep; at most {MAX_SEED_DEPTH}"
    top = parts[0].lower()
    if top in RESERVED_TOP or top.endswith(_HARNESS_SUFFIXES):
        return f"{rel!r}: /state/{parts[0]} is the harness's own (HOME, secrets, its databases)"
    return None


def check_seed_file(name: str, rel: str, data: bytes, mode: int | None = None) -> Iterator[Problem]:
    """One seed file: its path, its kind (``mode``, when read from a git tree) and its bytes."""
    file = seed_file(name, rel)
    why = path_problem(rel)
    if why is not None:
        yield Problem(file, "$", why, PATH_FIX)
        return
    if mode is not None and mode not in REGULAR_MODES:
        kind = {0o120000: "a symlink", 0o160000: "a submodule"}.get(mode, f"mode {mode:o}")
        yield Problem(
            file, "$", f"is {kind}; a seed must be a regular file", "commit the file's text instead"
        )
        return
    if len(data) > MAX_SEED_FILE_BYTES:
        yield Problem(
            file,
            "$",
            f"is {len(data)} bytes; the limit is {MAX_SEED_FILE_BYTES} per seed file",
            "keep the brief short; the agent can fetch more itself",
        )
        return
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        yield Problem(
            file, "$", "is not UTF-8 text", "seed files are text the operator reviews; save as UTF-8"
        )
        return
    bad = _CONTROL.search(text)
    if bad is not None:
        line = text.count("\n", 0, bad.start()) + 1
        yield Problem(
            file,
            f"line {line}",
            f"holds the control character {bad.group()!r} (a review could not show it)",
            "remove it; tabs and newlines are fine",
        )


def check_seed_set(name: str, files: Mapping[str, bytes]) -> Iterator[Problem]:
    """The agent's seeds together: how many and how big."""
    where = seed_prefix(name)
    if len(files) > MAX_SEED_FILES:
        yield Problem(where, "$", f"{len(files)} seed files; at most {MAX_SEED_FILES}", "merge or drop some")
    total = sum(len(data) for data in files.values())
    if total > MAX_SEED_BYTES:
        yield Problem(
            where, "$", f"{total} bytes of seed files; at most {MAX_SEED_BYTES}", "shorten or drop some"
        )


def check_owners(seeds: Mapping[str, Mapping[str, bytes]], known: set[str]) -> Iterator[Problem]:
    """Seeds belong to an agent of the swarm (``known``: its names), within the caps."""
    for name in sorted(seeds):
        if name not in known:
            yield Problem(
                seed_prefix(name),
                "$",
                f"belongs to no agent: agents/{name}.json does not exist",
                f"add agents/{name}.json or delete {seed_prefix(name)}",
            )
        else:
            yield from check_seed_set(name, seeds[name])


def encode_texts(name: str, files: Mapping[str, str]) -> dict[str, bytes]:
    """``{path: text}`` from a draft as seed bytes, every file checked (raises listing every problem)."""
    out: dict[str, bytes] = {}
    problems: list[Problem] = []
    for rel, text in files.items():
        try:
            out[rel] = text.encode("utf-8")
        except UnicodeEncodeError:
            problems.append(
                Problem(seed_file(name, rel), "$", "is not valid Unicode text", "send plain text")
            )
    problems += [p for rel, data in out.items() for p in check_seed_file(name, rel, data)]
    problems += check_seed_set(name, out)
    if problems:
        raise DesiredStateError(problems)
    return out
