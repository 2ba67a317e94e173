"""Whole-swarm editing as one JSON document (`hive desired edit`, the dashboard's editor).

The document is ``{"hive.json": {...}, "agents": {"<name>": {...}}}``. An edit
is applied as the files it changed, on top of whatever `main` is when it is
saved; if one of those same files changed on `main` meanwhile, the edit is
refused rather than silently overwriting someone else's change.
"""

from __future__ import annotations

import json
from typing import Any

from desired.errors import ConflictError, DesiredStateError, Problem
from desired.files import dump_files, load_files
from desired.repo import Mutation, file_changes
from desired.rules import HIVE_FILE
from desired.schema import DesiredState

DOC_FILE = "desired-state.json"


def to_document(state: DesiredState) -> dict[str, Any]:
    return {
        HIVE_FILE: state.settings.model_dump(mode="json"),
        "agents": {name: spec.model_dump(mode="json") for name, spec in state.agents.items()},
    }


def from_document(text: str, base: DesiredState) -> DesiredState:
    """Parse an edited document; agent.nix and other files carry over from ``base``."""
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))
    try:
        doc = json.loads(body)
    except json.JSONDecodeError as exc:
        raise DesiredStateError(
            [
                Problem(
                    DOC_FILE,
                    "$",
                    f"not valid JSON: line {exc.lineno} column {exc.colno}: {exc.msg}",
                    "fix the JSON syntax",
                )
            ]
        ) from None
    if not isinstance(doc, dict) or set(doc) - {HIVE_FILE, "agents"}:
        raise DesiredStateError(
            [
                Problem(
                    DOC_FILE,
                    "$",
                    'must be an object with keys "hive.json" and "agents"',
                    "restore the two top-level keys",
                )
            ]
        )
    agents = doc.get("agents", {})
    if not isinstance(agents, dict):
        raise DesiredStateError(
            [
                Problem(
                    DOC_FILE,
                    "$.agents",
                    "must be an object keyed by agent name",
                    'use {"name": {...}}',
                )
            ]
        )
    files = {k: v for k, v in dump_files(base).items() if not k.endswith(".json")}
    files[HIVE_FILE] = json.dumps(doc.get(HIVE_FILE, {})).encode()
    for name, spec in agents.items():
        if isinstance(spec, dict):
            spec.setdefault("name", name)
        files[f"agents/{name}.json"] = json.dumps(spec).encode()
    nix_owners = {k.split("/")[1] for k in files if k.endswith("/agent.nix")}
    for owner in nix_owners - set(agents):  # removing an agent drops its agent.nix too
        files.pop(f"agents/{owner}/agent.nix", None)
    return load_files(files)


def rebase_edit(base: DesiredState, edited: DesiredState) -> Mutation:
    """A mutation that applies the edit's changed files to the latest state, refusing overlaps."""
    touched = file_changes(base, edited)

    def mutate(latest: DesiredState) -> DesiredState:
        moved = set(file_changes(base, latest)) & set(touched)
        if moved:
            raise ConflictError(
                f"{', '.join(sorted(moved))} changed on main while you were editing; "
                "nothing was saved. Run the edit again to start from the current state."
            )
        files = dump_files(latest)
        for path, data in touched.items():
            if data is None:
                files.pop(path, None)
            else:
                files[path] = data
        return load_files(files)

    return mutate
