"""KEY=value files (`secrets.env`): one reader for the host, the runtime and the harness.

The operator's `<state>/secrets.env` (0600) and an agent's own
`/state/secrets.env` hold lines like ``ANTHROPIC_API_KEY=...``. Blank lines
and ``#`` comments are skipped, a leading ``export`` is allowed, and one
pair of surrounding quotes (single or double) is removed; a later line wins.
Everyone who reads such a file reads it here, so the daemon's egress
allow-list, the environment agents get and what the harness passes to claude
never disagree about what a line says.

The credential keys an operator may put there, and ``has_credentials`` (a key,
or claude's own login file in the agent's HOME), are here too: the harness
asks it before each turn, and `hive doctor` asks it of every agent's state
dir from the host.
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from pathlib import Path

CREDENTIAL_KEYS = (
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "CLAUDE_CODE_OAUTH_TOKEN",
    "ANTHROPIC_BASE_URL",
)
"""Credentials and endpoints the operator may give every agent (hive serve's env or <state>/secrets.env)."""
LOGIN_FILE = Path(".claude") / ".credentials.json"
"""Where the claude CLI keeps a finished login, under its HOME (an agent's is ``/state/home``)."""


def parse_env(text: str, keys: Container[str] | None = None) -> dict[str, str]:
    """Every ``KEY=value`` line of ``text`` (only ``keys``, when given)."""
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        name = name.strip().removeprefix("export ").strip()
        if not sep or not name or (keys is not None and name not in keys):
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[name] = value
    return out


def read_env(path: Path, keys: Container[str] | None = None) -> dict[str, str]:
    """``parse_env`` of the file at ``path``; a missing or unreadable file is empty."""
    try:
        return parse_env(path.read_text(errors="replace"), keys)
    except OSError:
        return {}


def has_credentials(env: Mapping[str, str]) -> bool:
    """A cheap login check: an API key in ``env``, or the CLI's own OAuth credentials file in its HOME."""
    if any(env.get(key) for key in CREDENTIAL_KEYS if key != "ANTHROPIC_BASE_URL"):
        return True
    home = env.get("HOME")
    return home is not None and (Path(home) / LOGIN_FILE).exists()
