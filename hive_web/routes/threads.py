"""The operator's side of questions, messages and reminders: each a host-core op run as the operator."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from hive_kit import wire
from hive_web.http import path_int, read_body
from hive_web.keys import DEPS
from hive_web.operator import ask_core

routes = web.RouteTableDef()
_FORM = ConfigDict(extra="forbid")


class AnswerForm(BaseModel):
    model_config = _FORM
    answer: str = Field(max_length=wire.MAX_BODY_BYTES)


class SendForm(BaseModel):
    model_config = _FORM
    to: str = Field(max_length=64)
    body: str = Field(max_length=wire.MAX_BODY_BYTES)
    in_reply_to: int | None = None


def _json(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")


@routes.post("/api/questions/{qid}/answer")
async def answer(request: web.Request) -> web.Response:
    qid, form = path_int(request, "qid"), await read_body(request, AnswerForm)
    if not form.answer.strip():
        raise web.HTTPBadRequest(text="the answer is empty: pick an option or type an answer")
    req = wire.AnswerQuestion(id=qid, answer=form.answer.strip())
    return web.json_response(_json(await ask_core(request.app[DEPS].operator, req, wire.QuestionResult)))


@routes.post("/api/questions/{qid}/cancel")
async def cancel_question(request: web.Request) -> web.Response:
    req = wire.CancelThread(kind="question", id=path_int(request, "qid"))
    return web.json_response(_json(await ask_core(request.app[DEPS].operator, req, wire.Done)))


@routes.post("/api/messages")
async def send(request: web.Request) -> web.Response:
    form = await read_body(request, SendForm)
    to, body = form.to.strip().removeprefix("@"), form.body.strip()
    if not to or not body:
        raise web.HTTPBadRequest(text="a message needs a recipient (@name) and a body")
    req = wire.Send(to=to, body=body, in_reply_to=form.in_reply_to)
    return web.json_response(_json(await ask_core(request.app[DEPS].operator, req, wire.SendResult)))


@routes.post("/api/reminders/{rid}/cancel")
async def cancel_reminder(request: web.Request) -> web.Response:
    req = wire.CancelThread(kind="reminder", id=path_int(request, "rid"))
    return web.json_response(_json(await ask_core(request.app[DEPS].operator, req, wire.Done)))


@routes.post("/api/reminders/{rid}/retry")
async def retry_reminder(request: web.Request) -> web.Response:
    req = wire.RetryReminder(id=path_int(request, "rid"))
    return web.json_response(_json(await ask_core(request.app[DEPS].operator, req, wire.ReminderResult)))
