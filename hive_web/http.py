"""Errors as JSON with a message a person can act on, and validated request bodies.

Every refusal leaves the dashboard as ``{"error": "...", "problems": [...]}``
with the status ``hive_kit.errors.ERROR_TABLE`` gives its class (the one
table the socket server and the CLI read too): `DesiredStateError` → 422
carrying the same problems (file, JSON path, message, fix) the CLI prints;
unknown objects → 404; conflicts → 409; other user errors → 400; retryable
failures → 503. Handlers raise; this module translates, so a handler never
builds an error response by hand.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from hive_kit.errors import DesiredStateError, HiveError, kind_of

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_json(status: int, message: str, problems: list[dict[str, str]] | None = None) -> web.Response:
    body: dict[str, Any] = {"error": message}
    if problems is not None:
        body["problems"] = problems
    return web.json_response(body, status=status)


def hive_error_response(exc: HiveError) -> web.Response:
    problems = [p.as_json() for p in exc.problems] if isinstance(exc, DesiredStateError) else None
    return error_json(kind_of(exc).http_status, str(exc), problems)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except HiveError as exc:
        return hive_error_response(exc)
    except ValidationError as exc:
        return error_json(400, f"invalid request: {validation_message(exc)}")
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        text = exc.text or exc.reason
        if text.startswith(f"{exc.status}: "):
            text = text.removeprefix(f"{exc.status}: ")
        return error_json(exc.status, text) if not _is_redirect(exc) else exc


def _is_redirect(exc: web.HTTPException) -> bool:
    return 300 <= exc.status < 400


def validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


async def read_body(request: web.Request, model: type[M]) -> M:
    """Parse a JSON (or form-encoded) body into ``model``; 400/415 with a message otherwise."""
    if request.content_type == "application/json":
        try:
            raw: Any = json.loads(await request.read() or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise web.HTTPBadRequest(text=f"the body is not valid JSON: {exc}") from None
    elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        raw = {k: v for k, v in (await request.post()).items() if k != "csrf"}
    else:
        raise web.HTTPUnsupportedMediaType(
            text=f"send application/json (got {request.content_type or 'no content type'})"
        )
    if not isinstance(raw, dict):
        raise web.HTTPBadRequest(text="the body must be a JSON object")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise web.HTTPBadRequest(text=f"invalid request: {validation_message(exc)}") from None


def path_int(request: web.Request, key: str) -> int:
    raw = request.match_info[key]
    if not raw.isdigit() or len(raw) > 9:
        raise web.HTTPBadRequest(text=f"{key} must be a positive whole number, not {raw!r}")
    return int(raw)


def query_int(request: web.Request, key: str, default: int, *, low: int, high: int) -> int:
    raw = request.query.get(key)
    if raw is None or raw == "":
        return default
    if not raw.lstrip("-").isdigit() or not low <= int(raw) <= high:
        raise web.HTTPBadRequest(text=f"{key} must be a whole number from {low} to {high}, not {raw!r}")
    return int(raw)
