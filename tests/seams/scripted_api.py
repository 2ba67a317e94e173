"""Test seam: a scripted Anthropic-compatible Messages API on 127.0.0.1.

This is the ONLY stand-in in the harness tests: the Anthropic API cannot be
reached from this machine, so tests point the real `claude` CLI at this
server (``ANTHROPIC_BASE_URL`` + any ``ANTHROPIC_API_KEY``). Everything else
(the CLI, its MCP client, our MCP server, the sockets, the broker) is real.

A test scripts the model turn by turn: each ``Reply`` is what the model says
to one "main" request (one that offers tools — the agent's own turn), as
streaming SSE (message_start, content_block_start/delta/stop,
message_delta, message_stop) with the usage numbers the test chose. A reply
may be a tool_use (the CLI then really calls our MCP tool and sends the
result back in the next request), an HTTP error such as "prompt is too
long", or may hang until released (for cancel tests). Requests the CLI
makes on its own (no tools offered: titles, summaries for /compact, …) get
``side_reply`` (a short text) unless the test scripts them too.

The server runs on its own thread and event loop so synchronous test code
(``subprocess.run``) never stalls it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 10
    output_tokens: int = 5
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class ToolUse:
    name: str
    input: dict[str, Any]


@dataclass(frozen=True)
class Reply:
    """One model response: content blocks (Text / ToolUse), usage, or an error."""

    blocks: tuple[Text | ToolUse, ...] = (Text("done"),)
    usage: Usage = Usage()
    error_status: int = 0
    error_type: str = "invalid_request_error"
    error_message: str = ""
    hold: threading.Event | None = None
    """If set, the stream stops after message_start until the event is set (or the client goes)."""


def text(message: str, usage: Usage = Usage()) -> Reply:
    return Reply(blocks=(Text(message),), usage=usage)


def tool(name: str, usage: Usage = Usage(), **arguments: Any) -> Reply:
    return Reply(blocks=(ToolUse(name, arguments),), usage=usage)


def prompt_too_long() -> Reply:
    return Reply(error_status=400, error_message="prompt is too long: 215000 tokens > 200000 maximum")


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class Recorded:
    path: str
    body: dict[str, Any]
    main: bool

    def tool_results(self) -> list[str]:
        """Text of every tool_result block in the last user message (what our MCP tools returned)."""
        out: list[str] = []
        messages = self.body.get("messages") or []
        if not messages:
            return out
        content = messages[-1].get("content")
        for block in content if isinstance(content, list) else []:
            if block.get("type") != "tool_result":
                continue
            inner = block.get("content")
            if isinstance(inner, str):
                out.append(inner)
            else:
                out.extend(part.get("text", "") for part in inner or [] if isinstance(part, dict))
        return out

    def all_text(self) -> str:
        return json.dumps(self.body)


@dataclass
class ScriptedAPI:
    """Serve scripted replies; ``script`` is consumed one reply per main request."""

    script: list[Reply] = field(default_factory=list)
    side_reply: Callable[[dict[str, Any]], Reply] = lambda _body: text("ok")
    default_main: Reply = field(default_factory=lambda: text("(scripted model: nothing more to say)"))
    requests: list[Recorded] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    """Every HTTP request that arrived, with its headers (which key was sent: the gateway tests)."""
    port: int = 0
    host: str = "127.0.0.1"
    """Where it listens: loopback, or a local bridge's address for clients in pods (tests/k8s)."""
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def env(self) -> dict[str, str]:
        """The environment a claude process needs to talk to this server."""
        return {
            "ANTHROPIC_BASE_URL": self.base_url,
            "ANTHROPIC_API_KEY": "sk-ant-scripted-test-key",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_ERROR_REPORTING": "1",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_AUTOUPDATER": "1",
        }

    def push(self, *replies: Reply) -> None:
        with self._lock:
            self.script.extend(replies)

    def main_requests(self) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.main]

    # -- lifecycle -------------------------------------------------------
    def start(self) -> Self:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        def run() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._serve())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="scripted-api", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("scripted API did not start within 10 s")
        return self

    def stop(self) -> None:
        if self._loop is None or self._runner is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
        future.result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _serve(self) -> None:
        app = web.Application(middlewares=[self._note_call])
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_post("/v1/messages/count_tokens", self._count_tokens)
        app.router.add_route("*", "/{tail:.*}", self._other)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    # -- handlers --------------------------------------------------------
    @web.middleware
    async def _note_call(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        with self._lock:
            self.calls.append(Call(request.method, request.path_qs, dict(request.headers)))
        return await handler(request)

    async def _other(self, request: web.Request) -> web.Response:
        return web.json_response({})

    async def _count_tokens(self, request: web.Request) -> web.Response:
        return web.json_response({"input_tokens": 100})

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        main = bool(body.get("tools"))
        with self._lock:
            self.requests.append(Recorded("/v1/messages", body, main))
            if not main:
                return self.side_reply(body)
            return self.script.pop(0) if self.script else self.default_main

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        reply = self._next_reply(body)
        if reply.error_status:
            error = {"type": reply.error_type, "message": reply.error_message}
            return web.json_response({"type": "error", "error": error}, status=reply.error_status)
        message_id = f"msg_scripted_{next(self._ids)}"
        if not body.get("stream"):
            return web.json_response(_full_message(message_id, body, reply))
        return await self._stream(request, message_id, body, reply)

    async def _stream(
        self, request: web.Request, message_id: str, body: dict[str, Any], reply: Reply
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        for event in _sse_events(message_id, body, reply):
            await response.write(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode())
            if event["type"] == "message_start" and reply.hold is not None:
                while not reply.hold.is_set():
                    await asyncio.sleep(0.05)
        await response.write_eof()
        return response


Routed = Reply | Callable[[dict[str, Any]], Reply]
"""A routed reply: fixed, or made from the request's body (to answer with an id only it knows)."""


@dataclass
class RoutedAPI(ScriptedAPI):
    """The scripted API with one script per agent, chosen by ``You are <name>,`` in the system prompt:
    several agents' claudes share one server, each consuming only its own replies."""

    routes: dict[str, list[Routed]] = field(default_factory=dict)

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        main = bool(body.get("tools"))
        system = json.dumps(body.get("system", ""))
        with self._lock:
            self.requests.append(Recorded("/v1/messages", body, main))
            if not main:
                return self.side_reply(body)
            for name, script in self.routes.items():
                if f"You are {name}," in system and script:
                    reply = script.pop(0)
                    return reply if isinstance(reply, Reply) else reply(body)
            return self.default_main

    def route(self, name: str, *replies: Routed) -> None:
        with self._lock:
            self.routes.setdefault(name, []).extend(replies)

    def requests_of(self, name: str) -> list[Recorded]:
        with self._lock:
            return [
                r for r in self.requests if r.main and f"You are {name}," in json.dumps(r.body.get("system"))
            ]


def _usage_json(usage: Usage) -> dict[str, int]:
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_read_input_tokens": usage.cache_read_input_tokens,
        "cache_creation_input_tokens": usage.cache_creation_input_tokens,
    }


def _block_json(index: int, block: Text | ToolUse, message_id: str) -> dict[str, Any]:
    if isinstance(block, Text):
        return {"type": "text", "text": block.text}
    # unique per message: claude drops a tool call whose id it has seen before in the session
    return {
        "type": "tool_use",
        "id": f"toolu_scripted_{message_id.rsplit('_', 1)[-1]}_{index}_{block.name}",
        "name": block.name,
        "input": block.input,
    }


def _stop_reason(reply: Reply) -> str:
    return "tool_use" if any(isinstance(b, ToolUse) for b in reply.blocks) else "end_turn"


def _full_message(message_id: str, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": body.get("model", "scripted"),
        "content": [_block_json(i, b, message_id) for i, b in enumerate(reply.blocks)],
        "stop_reason": _stop_reason(reply),
        "stop_sequence": None,
        "usage": _usage_json(reply.usage),
    }


def _sse_events(message_id: str, body: dict[str, Any], reply: Reply) -> list[dict[str, Any]]:
    start_usage = {**_usage_json(reply.usage), "output_tokens": 1}
    message = {
        **_full_message(message_id, body, reply),
        "content": [],
        "stop_reason": None,
        "usage": start_usage,
    }
    events: list[dict[str, Any]] = [{"type": "message_start", "message": message}]
    for index, block in enumerate(reply.blocks):
        if isinstance(block, Text):
            events.append(
                {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}
            )
            delta = {"type": "text_delta", "text": block.text}
        else:
            start = {**_block_json(index, block, message_id), "input": {}}
            events.append({"type": "content_block_start", "index": index, "content_block": start})
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block.input)}
        events.append({"type": "content_block_delta", "index": index, "delta": delta})
        events.append({"type": "content_block_stop", "index": index})
    events.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": _stop_reason(reply), "stop_sequence": None},
            "usage": {"output_tokens": reply.usage.output_tokens},
        }
    )
    events.append({"type": "message_stop"})
    return events
