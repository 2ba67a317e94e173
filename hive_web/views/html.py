"""The HTML shells: the package's Jinja templates rendered with what a route hands them.

The templates ship with the package and are loaded once; rendering reads
nothing else. ``inline_json`` embeds a snapshot in the dashboard shell so the
first paint needs no second request.
"""

from __future__ import annotations

import json
from pathlib import Path

import jinja2

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, trim_blocks=True, lstrip_blocks=True
)


def render(template: str, **context: object) -> str:
    return _env.get_template(template).render(**context)


def inline_json(data: object) -> str:
    """JSON safe inside <script type="application/json"> (no '</script>' breakout)."""
    text = json.dumps(data, separators=(",", ":"), default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
