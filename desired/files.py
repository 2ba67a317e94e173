"""Desired state ↔ a tree of files (a git tree, a directory, a push).

One loader for every source, so the CLI, the pre-receive hook, `hive validate`
and `hive desired import` all refuse the same inputs with the same messages.
Parsing is per file (``parse_agent``) so the meta repo can cache parsed blobs
by object id and a 1,000-agent swarm reloads in milliseconds after a change.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from desired.agentnix import check_agent_nix
from desired.rules import AGENTS_DIR, HIVE_FILE, check_agent, check_settings, check_swarm
from desired.schema import AgentSpec, DesiredState, SwarmSettings
from desired.seeds import REGULAR_MODES, SEED_DIR, check_seed_file
from hive_kit.errors import DesiredStateError, Problem

KEPT_FILES = frozenset({"README.md", ".gitignore", ".gitattributes"})
LAYOUT_FIX = (
    "the meta repo holds hive.json, agents/<name>.json, agents/<name>/agent.nix, "
    "agents/<name>/seed/<path> and optionally README.md; move or delete this file"
)


class DuplicateKeyError(ValueError):
    """A JSON object names the same key twice (``json`` would silently keep the last)."""


def no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` for ``json.loads`` that refuses a repeated key."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise DuplicateKeyError(key)
        out[key] = value
    return out


def _json_path(loc: tuple[int | str, ...]) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)


def _model_at(cls: Any, loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The pydantic model that owns the object at ``loc`` (to list its fields)."""
    current: Any = cls
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            current = field.annotation if field else None
        else:
            args = [a for a in get_args(current) if a is not type(None) and a is not Ellipsis]
            current = args[-1] if args else None
        args = [a for a in get_args(current) if a is not type(None)]
        if len(args) == 1 and isinstance(args[0], type) and issubclass(args[0], BaseModel):
            current = args[0]
    if isinstance(current, type) and issubclass(current, BaseModel):
        return current
    return None


_TYPE_FIX = {
    "string_type": 'use a JSON string, e.g. "text"',
    "bool_type": "use true or false",
    "bool_parsing": "use true or false",
    "tuple_type": 'use a JSON list, e.g. ["a", "b"]',
    "list_type": 'use a JSON list, e.g. ["a", "b"]',
    "dict_type": "use a JSON object { ... }",
    "model_type": "use a JSON object { ... }",
}


def _describe(err: Any, cls: type[BaseModel]) -> tuple[str, str]:
    kind = err["type"]
    loc = tuple(err["loc"])
    if kind == "extra_forbidden":
        field = str(loc[-1])
        owner = _model_at(cls, loc[:-1])
        known = sorted(owner.model_fields) if owner else []
        close = difflib.get_close_matches(field, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown field {field!r}{hint}", f"remove it; known fields here: {', '.join(known)}"
    if kind == "missing":
        return "required field is missing", f"add {str(loc[-1])!r}"
    if kind == "enum":
        expected = err.get("ctx", {}).get("expected", "")
        return f"{err['input']!r} is not allowed", f"use one of {expected}"
    got = json.dumps(err.get("input"), default=str)[:60]
    want = _TYPE_FIX.get(kind, "see `hive schema` for the expected type")
    return f"{err['msg'].lower()}, got {got}", want


def validate_json(cls: type[BaseModel], file: str, data: bytes) -> tuple[Any, list[Problem]]:
    try:
        raw = json.loads(data, object_pairs_hook=no_duplicate_keys)
    except DuplicateKeyError as exc:
        return None, [Problem(file, "$", f"key {exc.args[0]!r} appears twice", "keep only one of them")]
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        where = f"line {exc.lineno} column {exc.colno}: " if isinstance(exc, json.JSONDecodeError) else ""
        return None, [Problem(file, "$", f"not valid JSON: {where}{exc}", "fix the JSON syntax")]
    if not isinstance(raw, dict):
        return None, [Problem(file, "$", "must be a JSON object", "wrap the fields in { }")]
    try:
        # strict: "yes" is not true and 1 is not "1" — a typo must not change meaning silently
        return cls.model_validate_json(data, strict=True), []
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            message, fix = _describe(err, cls)
            problems.append(Problem(file, _json_path(tuple(err["loc"])), message, fix))
        return None, problems


def parse_settings(data: bytes, file: str = HIVE_FILE) -> tuple[SwarmSettings | None, list[Problem]]:
    settings, problems = validate_json(SwarmSettings, file, data)
    if settings is not None:
        problems.extend(check_settings(settings, file))
    return (settings if not problems else None), problems


def parse_agent(file: str, data: bytes) -> tuple[AgentSpec | None, list[Problem]]:
    spec, problems = validate_json(AgentSpec, file, data)
    if spec is not None:
        problems.extend(check_agent(spec, file))
    return (spec if not problems else None), problems


def classify(path: str) -> tuple[str, str]:
    """('settings'|'agent'|'nix'|'seed'|'kept'|'unknown', agent name or '')."""
    if path == HIVE_FILE:
        return "settings", ""
    if path in KEPT_FILES:
        return "kept", ""
    parts = path.split("/")
    if len(parts) == 2 and parts[0] == AGENTS_DIR and parts[1].endswith(".json"):
        return "agent", parts[1].removesuffix(".json")
    if len(parts) == 3 and parts[0] == AGENTS_DIR and parts[2] == "agent.nix":
        return "nix", parts[1]
    if len(parts) >= 4 and parts[0] == AGENTS_DIR and parts[2] == SEED_DIR:
        return "seed", parts[1]
    return "unknown", ""


def seed_rel(path: str) -> str:
    """``agents/<name>/seed/<rel>`` → ``<rel>``."""
    return path.split("/", 3)[3]


def assemble(
    settings: SwarmSettings | None,
    agents: Mapping[str, AgentSpec],
    nix: Mapping[str, str],
    kept: Mapping[str, bytes],
    problems: list[Problem],
    unparsed: frozenset[str] = frozenset(),
    seeds: Mapping[str, dict[str, bytes]] | None = None,
) -> DesiredState:
    """Put parsed files together, run the cross-object rules, raise listing every problem."""
    if settings is None and not any(p.file == HIVE_FILE for p in problems):
        problems.append(
            Problem(HIVE_FILE, "$", "missing", "restore hive.json (`hive init` writes a default)")
        )
    state = DesiredState(
        settings=settings or SwarmSettings(),
        agents={k: agents[k] for k in sorted(agents)},
        agent_nix={k: nix[k] for k in sorted(nix)},
        extra_files=dict(kept),
        seeds={k: dict(sorted(v.items())) for k, v in sorted((seeds or {}).items())},
    )
    problems.extend(check_swarm(state, unparsed))
    if problems:
        raise DesiredStateError(problems)
    return state


class TreeLoader:
    """Accumulates a tree file by file, then checks the whole swarm in ``finish``.

    ``agent_cache`` maps a caller's key (the meta repo uses path + blob id) to
    an already-parsed agent, so unchanged files are not parsed twice.
    """

    def __init__(self, agent_cache: dict[Any, AgentSpec] | None = None) -> None:
        self.problems: list[Problem] = []
        self.settings: SwarmSettings | None = None
        self.agents: dict[str, AgentSpec] = {}
        self.nix: dict[str, str] = {}
        self.kept: dict[str, bytes] = {}
        self.seeds: dict[str, dict[str, bytes]] = {}
        self.unparsed: set[str] = set()
        self._cache = agent_cache if agent_cache is not None else {}

    def add(self, path: str, read: Callable[[], bytes], key: Any = None, mode: int | None = None) -> None:
        """One file; ``mode`` is its git file mode when read from a tree (a seed must be a regular file)."""
        kind, name = classify(path)
        if kind == "agent":
            self._add_agent(path, name, read, key)
        elif kind == "settings":
            self.settings, found = parse_settings(read())
            self.problems.extend(found)
        elif kind == "nix":
            try:
                self.nix[name] = read().decode("utf-8")
            except UnicodeDecodeError:
                self.problems.append(Problem(path, "$", "is not UTF-8 text", "save it as UTF-8"))
            else:
                self.problems.extend(check_agent_nix(path, name, self.nix[name]))
        elif kind == "seed":
            self._add_seed(name, seed_rel(path), read, mode)
        elif kind == "kept":
            self.kept[path] = read()
        else:
            self.problems.append(Problem(path, "$", "unexpected file", LAYOUT_FIX))

    def _add_agent(self, path: str, name: str, read: Callable[[], bytes], key: Any) -> None:
        spec = self._cache.get(key) if key is not None else None
        if spec is None:
            spec, found = parse_agent(path, read())
            self.problems.extend(found)
            if spec is not None and key is not None:
                self._cache[key] = spec
        if spec is None:
            self.unparsed.add(name)
        else:
            self.agents[name] = spec

    def _add_seed(self, name: str, rel: str, read: Callable[[], bytes], mode: int | None) -> None:
        if mode is not None and mode not in REGULAR_MODES:  # never read a link's or submodule's "bytes"
            self.problems.extend(check_seed_file(name, rel, b"", mode))
            return
        data = read()
        found = list(check_seed_file(name, rel, data, mode))
        self.problems.extend(found)
        if not found:
            self.seeds.setdefault(name, {})[rel] = data

    def finish(self) -> DesiredState:
        return assemble(
            self.settings,
            self.agents,
            self.nix,
            self.kept,
            self.problems,
            frozenset(self.unparsed),
            self.seeds,
        )


def validate_changes(new: DesiredState, changes: Mapping[str, bytes | None]) -> None:
    """Check a write without re-reading the whole tree: the changed files as written, then the swarm.

    Equivalent to loading the resulting tree (the unchanged files were valid
    already), at a fraction of the cost for a large swarm.
    """
    loader = TreeLoader()
    for path in sorted(changes):
        data = changes[path]
        if data is not None:
            loader.add(path, lambda d=data: d)  # type: ignore[misc]
    problems = loader.problems + list(check_swarm(new))
    if problems:
        raise DesiredStateError(problems)


def load_files(files: Mapping[str, bytes]) -> DesiredState:
    """Parse and validate a whole tree given as {relative path: bytes}."""
    loader = TreeLoader()
    for path in sorted(files):
        loader.add(path, lambda p=path: files[p])  # type: ignore[misc]
    return loader.finish()


def dump_model(model: BaseModel) -> bytes:
    return (json.dumps(model.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n").encode()


def dump_files(state: DesiredState) -> dict[str, bytes]:
    files: dict[str, bytes] = {HIVE_FILE: dump_model(state.settings)}
    for name, spec in state.agents.items():
        files[f"{AGENTS_DIR}/{name}.json"] = dump_model(spec)
    for name, text in state.agent_nix.items():
        files[f"{AGENTS_DIR}/{name}/agent.nix"] = text.encode()
    for name, seeds in state.seeds.items():
        for rel, data in seeds.items():
            files[f"{AGENTS_DIR}/{name}/{SEED_DIR}/{rel}"] = data
    files.update(state.extra_files)
    return files


def read_dir(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (skipping .git), keyed by its POSIX path relative to root."""
    if not root.is_dir():
        raise DesiredStateError([Problem(str(root), "$", "is not a directory", "pass a directory")])
    files: dict[str, bytes] = {}
    links: list[Problem] = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if rel.parts[0] == ".git":
            continue
        if path.is_symlink() and classify(rel.as_posix())[0] == "seed":  # never read through a link
            links.append(
                Problem(
                    rel.as_posix(), "$", "is a symlink; a seed must be a regular file", "copy the text in"
                )
            )
            continue
        if path.is_file():
            files[rel.as_posix()] = path.read_bytes()
    if links:
        raise DesiredStateError(links)
    return files


def write_dir(root: Path, files: Mapping[str, bytes]) -> None:
    for rel, data in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def iter_problem_lines(exc: DesiredStateError) -> Iterator[str]:
    for problem in exc.problems:
        yield str(problem)
