"""The whole desired state as one JSON document: read it, preview an edit, apply or propose it.

The document is the one `hive desired edit` opens (``desired.edit``), shown
with the revision it was read at. Preview validates exactly as a commit or a
push would and answers the file diff plus the reconciler's plan for the
edited state (the same dry run the Plan section shows), writing nothing.
Apply commits on exactly that revision (compare-and-swap on `main`): if
`main` moved, 409 with what moved and nothing written — Terraform's stale
saved plan. Propose records the same edit as a proposal for approval.

Refusals: a body that is not JSON, or a document that is not, 400 naming
line and column; invalid desired state 422 with every problem; a body over
the dashboard's cap 413 (aiohttp's ``client_max_size``).
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from desired.edit import (
    DocumentEdit,
    DocumentSyntaxError,
    StaleEdit,
    commit_edit,
    prepare_edit,
    propose_edit,
)
from hive_kit.errors import UnavailableError, UserError
from hive_web.http import error_json, read_body
from hive_web.keys import AUTHOR, DEPS, META
from hive_web.readers.meta import document, moved_since
from hive_web.views.approvals import proposal_json

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
_REVISION = r"^[0-9a-f]{40}$"


class EditForm(BaseModel):
    model_config = ConfigDict(extra="forbid")
    revision: str = Field(pattern=_REVISION, description="The revision the document was read at.")
    text: str = Field(description="The edited document.")
    message: str = Field(default="", max_length=2000)
    propose: bool = Field(default=False, description="Record a proposal instead of committing.")


def description_of(edit: DocumentEdit) -> str:
    """The default commit message (or proposal description): the files the edit changes."""
    return "edit desired state: " + ", ".join(sorted(edit.changes))


@routes.get("/api/desired")
async def show(request: web.Request) -> web.Response:
    revision, text = await request.app[META].run(document)
    return web.json_response({"revision": revision, "text": text})


async def _prepare(request: web.Request, form: EditForm) -> DocumentEdit:
    return await request.app[META].run(lambda repo: prepare_edit(repo, form.text, form.revision))


def _syntax(exc: DocumentSyntaxError) -> web.Response:
    problems = [p.as_json() for p in exc.problems]
    return error_json(400, f"the document is not valid JSON: line {exc.line} column {exc.column}", problems)


async def _stale(request: web.Request, exc: StaleEdit) -> web.Response:
    """409 with what moved on `main` since the page read the document (the "see diff")."""
    body = {
        "error": str(exc),
        "stale": True,
        "revision": exc.base,
        "main": exc.main,
        "moved": await request.app[META].run(lambda repo: moved_since(repo, exc.base, exc.main)),
    }
    return web.json_response(body, status=409)


async def _plan(request: web.Request, edit: DocumentEdit) -> tuple[dict[str, Any] | None, str]:
    link = request.app[DEPS].reconciler
    if link is None or not link.live:
        return None, "the reconciler is not running in this daemon: no plan, only the diff"
    try:
        return await link.plan_for(edit.new, edit.base), ""
    except UnavailableError as exc:
        return None, str(exc)


@routes.post("/api/desired/preview")
async def preview(request: web.Request) -> web.Response:
    form = await read_body(request, EditForm)
    try:
        edit = await _prepare(request, form)
    except DocumentSyntaxError as exc:
        return _syntax(exc)
    plan, note = await _plan(request, edit)
    return web.json_response(
        {
            "revision": edit.base,
            "main": edit.main,
            "stale": edit.stale,
            "changed": sorted(edit.changes),
            "diff": edit.diff,
            "plan": plan,
            "plan_note": note,
        }
    )


@routes.post("/api/desired/apply")
async def apply(request: web.Request) -> web.Response:
    form = await read_body(request, EditForm)
    author = request.app[AUTHOR]
    try:
        edit = await _prepare(request, form)
        if form.propose:
            if not edit.changes:
                raise UserError("the edit changes nothing in desired state; there is nothing to propose")
            description = form.message.strip() or description_of(edit)
            made = await request.app[META].run(
                lambda repo: propose_edit(repo, edit, author=author, description=description)
            )
            return web.json_response({"proposed": proposal_json(made, None)}, status=201)
        message = form.message.strip() or description_of(edit)
        info = await request.app[META].run(
            lambda repo: commit_edit(repo, edit, author=author, message=message)
        )
    except DocumentSyntaxError as exc:
        return _syntax(exc)
    except StaleEdit as exc:
        return await _stale(request, exc)
    if info is not None:
        log.info("dashboard: %s committed %s (%s)", author.name, info.revision[:12], message)
    return web.json_response(
        {
            "changed": info is not None,
            "revision": info.revision if info is not None else edit.base,
            "files": sorted(edit.changes),
            "summary": message if info is not None else "no changes: main already holds exactly that",
        }
    )
