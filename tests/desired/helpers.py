"""Small builders for desired-state file trees used across these tests."""

from __future__ import annotations

import json
from typing import Any


def agent(name: str, **fields: Any) -> bytes:
    return json.dumps({"name": name, **fields}).encode()


def swarm(*agents: tuple[str, dict[str, Any]], settings: dict[str, Any] | None = None) -> dict[str, bytes]:
    """A file tree: hive.json plus agents/<name>.json; the first agent is the manager unless told."""
    files = {"hive.json": json.dumps(settings or {}).encode()}
    for i, (name, fields) in enumerate(agents):
        role = {"role": "manager"} if i == 0 and "role" not in fields else {}
        files[f"agents/{name}.json"] = agent(name, **fields, **role)
    return files
