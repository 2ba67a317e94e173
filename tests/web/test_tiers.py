"""The dashboard's tiers keep their promises: ``hive_web.views`` stays pure.

A view takes data and returns data; the I/O that gathers it lives in
``hive_web.readers`` (see ``hive_web/__init__.py``). This reads each view
module's imports (no import-linter contract: the rule is about the standard
library too) and refuses anything that reaches a file, git, sqlite, a socket
or another tier.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

VIEWS = sorted((REPO_ROOT / "hive_web" / "views").glob("*.py"))
FORBIDDEN = (
    "aiohttp",
    "apsw",
    "asyncio",
    "os",
    "pygit2",
    "shutil",
    "socket",
    "sqlite3",
    "subprocess",
    "watchfiles",
    "reconciler",
    "hive_web.readers",
    "hive_web.routes",
    "hive_web.streams",
    "hive_web.meta",
    "hive_web.keys",
    "hive_web.deps",
)
TEMPLATES_ONLY = {"html.py"}  # loads the package's own Jinja templates, nothing else


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.extend((alias.name, []) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, [alias.name for alias in node.names]))
    return found


@pytest.mark.parametrize("path", VIEWS, ids=lambda p: p.name)
def test_a_view_imports_nothing_that_does_io(path: Path) -> None:
    for module, names in _imports(path):
        assert not any(module == f or module.startswith(f + ".") for f in FORBIDDEN), (
            f"hive_web/views/{path.name} imports {module}: move that I/O to hive_web/readers/"
        )
        if module == "pathlib" and path.name not in TEMPLATES_ONLY:
            assert "Path" not in names, f"hive_web/views/{path.name} takes a Path: pass it the data instead"
