"""The forge connection: where Forgejo is, which repo, and the API token, kept by the operator.

Stored in the state dir, never in desired state (git history anyone with the
repo can read): ``forge/connection.json`` says where, ``secrets/forgejo-token``
holds the token, both 0600 under 0700 directories. No sandbox binds either:
an agent sees its own ``/state``, its run dir and (the manager) the meta
repo's objects and refs only (docs/security.md). The token is read when a
call is made, so a rotated token file takes effect without a restart.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, ValidationError

from hive_kit.errors import PermanentError, UserError
from hive_kit.paths import StateLayout

CONNECTION_FILE = "forge/connection.json"
TOKEN_FILE = "secrets/forgejo-token"  # noqa: S105 - a file name, not a secret
_REPO = re.compile(r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$")
_TOKEN = re.compile(r"^[\x21-\x7e]{8,512}$")  # printable, no spaces: Forgejo tokens are 40 hex


class Connection(BaseModel):
    """Where the forge is: its base URL, the repo, and the dashboard's URL as a browser reaches it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    url: str
    owner: str
    repo: str
    dashboard_url: str

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.repo}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/v1"


def connection_path(layout: StateLayout) -> Path:
    return layout.root / CONNECTION_FILE


def token_path(layout: StateLayout) -> Path:
    return layout.root / TOKEN_FILE


def check_url(url: str, what: str = "--url") -> str:
    """``url`` without a trailing slash, or a UserError naming what is wrong with it."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError(f"{what} {url!r} is not an http(s) URL; pass e.g. https://forgejo.example")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise UserError(
            f"{what} {url!r} must not carry a user, password, query or #; the token goes in a file"
        )
    return url.strip().rstrip("/")


def check_repo(full_name: str) -> tuple[str, str]:
    if not _REPO.match(full_name) or ".." in full_name:
        raise UserError(f"--repo {full_name!r} is not OWNER/NAME; pass e.g. --repo ops/swarm")
    owner, name = full_name.split("/")
    return owner, name.removesuffix(".git")


def read_token_file(path: Path) -> str:
    """The token in the operator's file (its first line), or a UserError saying what is wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UserError(f"cannot read the token file {path}: {why}; pass a readable file") from None
    token = text.strip().splitlines()[0].strip() if text.strip() else ""
    if not _TOKEN.match(token):
        raise UserError(
            f"the token file {path} holds no usable token (one line, 8-512 printable characters); "
            "create one in Forgejo: Settings → Applications → Generate new token"
        )
    return token


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.parent.chmod(0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)  # atomic: a reader never sees half a file


def save(layout: StateLayout, connection: Connection, token: str) -> None:
    """Store both; the token first, so a connection file never names a token that is not there."""
    _write_private(token_path(layout), token + "\n")
    _write_private(connection_path(layout), connection.model_dump_json(indent=2) + "\n")


def load(layout: StateLayout) -> Connection | None:
    """The stored connection, or None when the swarm has no forge."""
    path = connection_path(layout)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        return Connection.model_validate_json(text)
    except ValidationError as exc:
        raise PermanentError(
            f"{path} is not a forge connection ({exc.errors()[0]['msg']}); "
            "run `hive forge connect` again or `hive forge disconnect`"
        ) from None


def load_token(layout: StateLayout) -> str:
    path = token_path(layout)
    try:
        return read_token_file(path)
    except UserError as exc:
        raise PermanentError(f"{exc}; run `hive forge connect --token-file FILE` again") from None


def remove(layout: StateLayout) -> bool:
    """Forget the connection and the token; False if there was none."""
    found = False
    for path in (connection_path(layout), token_path(layout)):
        try:
            path.unlink()
            found = True
        except FileNotFoundError:
            pass
    return found
