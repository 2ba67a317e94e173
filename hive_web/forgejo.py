"""Forgejo's push webhook, the pure parts: the shared secret, the signature, the payload.

Flux's notification-controller ``Receiver`` is the model: a webhook only
*wakes* the system, it never carries what to deploy. So a delivery is
trusted for two facts — it comes from Forgejo (HMAC-SHA256 of the raw body
with the shared secret, compared in constant time) and it is a push to
`main` — and the commit that lands is whatever the configured remote's
`main` is when we fetch it. A replayed delivery therefore cannot roll
anything back; it only fetches and reconciles again, both idempotent.

The secret is the operator's, like the dashboard token: a 0600 file in the
state dir (``<state>/secrets/forgejo-webhook``), never desired state (which
is git history anyone with the repo can read). It is read on every delivery,
so ``hive webhook secret --rotate`` takes effect without a restart.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hive_kit.paths import StateLayout
from hive_web.security import read_private

log = logging.getLogger(__name__)

SECRET_FILE = "secrets/forgejo-webhook"  # noqa: S105 - a file name, not a secret
PATH = "/hooks/forgejo"
MAX_BODY_BYTES = 1024 * 1024
SIGNATURE_HEADERS = ("X-Forgejo-Signature", "X-Gitea-Signature")
EVENT_HEADERS = ("X-Forgejo-Event", "X-Gitea-Event")
DELIVERY_HEADERS = ("X-Forgejo-Delivery", "X-Gitea-Delivery")
MAIN_REF = "refs/heads/main"


def secret_path(layout: StateLayout) -> Path:
    return layout.root / SECRET_FILE


def load_secret(layout: StateLayout) -> str | None:
    """The webhook secret, or None while the operator has not created one."""
    try:
        return read_private(secret_path(layout), "secret", "run `hive webhook secret --rotate`")
    except FileNotFoundError:
        return None


def write_secret(layout: StateLayout, *, rotate: bool = False) -> tuple[str, bool]:
    """The secret and whether it was written now (created, or replaced when ``rotate``)."""
    path = secret_path(layout)
    if not rotate:
        existing = load_secret(layout)
        if existing is not None:
            return existing, False
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    value = secrets.token_hex(32)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    os.replace(tmp, path)  # atomic: a delivery never reads half a secret
    return value, True


def first_header(headers: Mapping[str, str], names: tuple[str, ...]) -> str:
    for name in names:
        value = headers.get(name)
        if value:
            return value.strip()
    return ""


def signature(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_problem(secret: str, body: bytes, headers: Mapping[str, str]) -> str | None:
    """Why the delivery's signature is refused, or None when it is Forgejo's."""
    sent = first_header(headers, SIGNATURE_HEADERS)
    if not sent:
        return (
            "missing X-Forgejo-Signature (or X-Gitea-Signature) header: set the webhook's secret "
            "in Forgejo to the one `hive webhook secret` prints"
        )
    sent = sent.removeprefix("sha256=").lower()
    if not hmac.compare_digest(sent, signature(secret, body)):
        return (
            "bad signature: the body is not signed with this hive's webhook secret; "
            "copy it again from `hive webhook secret` into the webhook's settings in Forgejo"
        )
    return None


class _Repository(BaseModel):
    model_config = ConfigDict(extra="ignore")
    full_name: str = ""


class PushPayload(BaseModel):
    """The fields of Forgejo's push payload we read; the rest is ignored."""

    model_config = ConfigDict(extra="ignore")
    ref: str
    before: str = ""
    after: str = ""
    repository: _Repository = Field(default_factory=_Repository)


PULL_ACTIONS = ("opened", "synchronized", "reopened")
"""Forgejo's pull_request actions that change the head or bring it back (GitHub says "synchronize")."""


class _PullHead(BaseModel):
    model_config = ConfigDict(extra="ignore")
    sha: str = ""
    ref: str = ""


class _Login(BaseModel):
    model_config = ConfigDict(extra="ignore")
    login: str = Field(default="", max_length=100)


class _Pull(BaseModel):
    model_config = ConfigDict(extra="ignore")
    number: int = Field(ge=1)
    head: _PullHead = Field(default_factory=_PullHead)
    merged: bool = False
    merge_commit_sha: str | None = None
    merged_by: _Login | None = None


class PullPayload(BaseModel):
    """The fields of Forgejo's pull_request payload we read; the head is fetched, never trusted."""

    model_config = ConfigDict(extra="ignore")
    action: str
    number: int = Field(ge=1)
    pull_request: _Pull
    sender: _Login = Field(default_factory=_Login)


class _Issue(BaseModel):
    model_config = ConfigDict(extra="ignore")
    number: int = Field(ge=1)
    pull_request: dict[str, Any] | None = None


class _Comment(BaseModel):
    model_config = ConfigDict(extra="ignore")
    body: str = Field(default="", max_length=65536)
    user: _Login = Field(default_factory=_Login)


class CommentPayload(BaseModel):
    """Forgejo's issue_comment payload: a comment on a pull request may become a denial's note."""

    model_config = ConfigDict(extra="ignore")
    action: str
    issue: _Issue
    comment: _Comment


def comment_payload(raw: dict[str, Any]) -> CommentPayload:
    try:
        return CommentPayload.model_validate(raw)
    except ValidationError as exc:
        where = ".".join(str(p) for p in exc.errors()[0]["loc"]) or "body"
        raise ValueError(f"not a Forgejo issue_comment payload: {where}: {exc.errors()[0]['msg']}") from None


def pull_payload(raw: dict[str, Any]) -> PullPayload:
    try:
        parsed = PullPayload.model_validate(raw)
    except ValidationError as exc:
        where = ".".join(str(p) for p in exc.errors()[0]["loc"]) or "body"
        raise ValueError(f"not a Forgejo pull_request payload: {where}: {exc.errors()[0]['msg']}") from None
    if parsed.action == "synchronize":
        parsed = parsed.model_copy(update={"action": "synchronized"})
    return parsed


def parse_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object; ``ValueError`` with a sentence if it is not one."""
    try:
        raw: Any = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(
            f"the body is not JSON ({exc}); set the webhook's content type to application/json"
        ) from None
    if not isinstance(raw, dict):
        raise ValueError("the body must be a JSON object (a Forgejo push payload)")
    return raw


def push_payload(raw: dict[str, Any]) -> PushPayload:
    """The push payload's fields; ``ValueError`` if a push event lacks them."""
    try:
        return PushPayload.model_validate(raw)
    except ValidationError as exc:
        where = ".".join(str(p) for p in exc.errors()[0]["loc"]) or "body"
        raise ValueError(f"not a Forgejo push payload: {where}: {exc.errors()[0]['msg']}") from None


@dataclass(frozen=True)
class Delivery:
    """One received delivery and what came of it (kept in memory; the last few are shown)."""

    at: float
    delivery: str
    event: str
    status: int
    outcome: (
        str  # "fast-forwarded", "up-to-date", "reconcile", "ignored", "refused", "failed", "unauthorized"
    )
    message: str
    ref: str = ""
    after: str = ""
    fetched: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DeliveryLog:
    """The last ``keep`` deliveries, newest first."""

    keep: int = 20
    items: list[Delivery] = field(default_factory=list)

    def add(self, delivery: Delivery) -> None:
        self.items.insert(0, delivery)
        del self.items[self.keep :]

    def to_json(self) -> list[dict[str, Any]]:
        return [d.to_json() for d in self.items]


@dataclass
class HookState:
    """Per app: the recent deliveries, and one fetch-and-forward at a time."""

    deliveries: DeliveryLog = field(default_factory=DeliveryLog)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
