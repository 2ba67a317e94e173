"""Fixtures for the dashboard: a real meta repo, the app served on a real port, one Chromium.

Every client logs in as the operator does: a one-time link (`hive dashboard
url`'s, minted here by the dashboard's ``LoginCodes``) exchanged for a
session cookie, and the page's CSRF token read from the page. ``http`` sends
nothing by itself: a request without ``session_headers`` (or
``browser_headers`` for writes) is what any other local process would send.

The app runs in a background thread with its own event loop (as it would
inside `hive serve`), so tests can drive it with plain HTTP and with
Playwright's sync API. As in `hive serve`, the app watches nothing itself: a
``MetaWatch`` on the meta repo (the host core's watcher) runs beside it with
the app's ``desired`` hints subscribed. One browser for the package: Chromium
is heavy and the machine is shared.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web

from desired.bootstrap import init_meta_repo
from desired.changes import apply_changes
from desired.repo import Author, MetaRepo
from hive_core.events import Event, EventLog
from hive_core.logins import LoginCodes
from hive_core.metawatch import MetaWatch
from hive_core.stores.schema import open_core_db
from hive_kit.changes import AddAgent, ChangeSet
from hive_kit.paths import StateLayout
from hive_web.dashboard import bound_port, create_app, make_guard, start
from hive_web.deps import Deps
from hive_web.keys import FANOUT, WebConfig
from hive_web.readers.reconciler import ReconcilerLink
from hive_web.streams.fanout import desired_hints
from reconciler.events import ReconcilerEvent
from reconciler.host import LoopControl
from reconciler.loop import LoopSettings, Reconciler
from reconciler.runtime.local import LocalRuntime
from tests.reconciler.conftest import AGENT_COMMAND, REPO_ROOT, kill_all

T = TypeVar("T")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
TEST_AUTHOR = Author("Test Operator", "operator@example.test")


@dataclass
class Served:
    """A running dashboard: its URL, state dir, meta repo, feed and loop, and the meta watch beside it."""

    layout: StateLayout
    feed: EventLog
    loop: asyncio.AbstractEventLoop
    config: WebConfig
    runner: web.AppRunner | None = None
    url: str = ""
    token: str = ""
    logins: LoginCodes = field(default_factory=LoginCodes)
    session: Login | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    watch: MetaWatch | None = None
    watching: asyncio.Task[None] | None = None
    unsubscribe: Callable[[], None] | None = None

    @property
    def repo(self) -> MetaRepo:
        return MetaRepo(self.layout.meta)

    @property
    def csrf(self) -> str:
        return self.login().csrf

    def login(self) -> Login:
        """The test's own session (logged in once, through a one-time link)."""
        if self.session is None:
            self.session = login_with(self.login_link())
        return self.session

    def login_link(self) -> str:
        """A fresh one-time login link, as `hive dashboard url` prints it."""
        return str(self.logins.issue().url)

    def call(self, coro_fn: Callable[[], Any]) -> Any:
        """Run ``coro_fn()`` on the server's loop and wait for it."""
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro_fn(), self.loop)
        return future.result(timeout=30)

    def publish(self, event: Event) -> int:
        """Publish on the server's loop (the EventLog wakes its subscribers there)."""

        async def go() -> int:
            return self.feed.publish(event)

        return int(self.call(go))

    def close(self) -> None:
        self.stop()
        if self.watching is not None:
            watching, self.watching = self.watching, None
            self.call(lambda: _cancel(watching))
        self.feed._conn.close()

    def stop(self) -> None:
        if self.unsubscribe is not None:
            unsubscribe, self.unsubscribe = self.unsubscribe, None
            unsubscribe()
        if self.runner is not None:
            runner, self.runner = self.runner, None
            self.call(runner.cleanup)

    def restart(self) -> None:
        """Stop and start again on the same port, with the same feed (an SSE drop + resume)."""
        self.stop()
        self.runner = self.call(lambda: _start(self, self.config))


async def _start(served: Served, config: WebConfig) -> web.AppRunner:
    guard, _ = make_guard(served.layout, config)
    hooks = {"publish": served.feed.publish, "logins": served.logins, **served.extra}  # as `hive serve`
    app = create_app(Deps(layout=served.layout, feed=served.feed, guard=guard, config=config, **hooks))
    served.token = guard.token
    if served.watch is None:  # one watcher for the dashboard's whole life, as the host core has
        served.watch = MetaWatch(served.layout.meta)
        served.watching = asyncio.create_task(served.watch.run(), name="test-meta-watch")
    served.unsubscribe = served.watch.subscribe("web", desired_hints(app[FANOUT]))
    return await start(app, config)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@pytest.fixture
def layout(tmp_path: Path) -> StateLayout:
    layout = StateLayout(tmp_path / "state")
    layout.root.mkdir(parents=True)
    init_meta_repo(layout.meta, TEST_AUTHOR)
    return layout


@pytest.fixture
def server_loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="dashboard-loop", daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)
    loop.close()


def serve(
    layout: StateLayout, loop: asyncio.AbstractEventLoop, host: str = "127.0.0.1", **deps: Any
) -> Served:
    """Start the dashboard on a free port; ``deps`` are ``Deps`` fields (reconciler, control, operator)."""
    feed = deps.pop("feed", None) or EventLog(open_core_db(layout.db))  # a HostCore's: as in `hive serve`
    logins = deps.pop("logins", None) or LoginCodes()
    config = WebConfig(host=host, port=0)
    served = Served(layout=layout, feed=feed, loop=loop, config=config, extra=deps, logins=logins)
    served.runner = served.call(lambda: _start(served, served.config))
    port = bound_port(served.runner)
    served.config = WebConfig(host=host, port=port)
    served.url = f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port}"
    served.logins.serving(served.url)
    return served


@pytest.fixture
def dashboard(layout: StateLayout, server_loop: asyncio.AbstractEventLoop) -> Iterator[Served]:
    served = serve(layout, server_loop)
    yield served
    served.close()


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """One Chromium for all of tests/web; closed when the package is done.

    Package scope, not session: Playwright's sync API keeps an event loop
    running on this thread, which asyncio tests elsewhere must not meet.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, timeout=60_000)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, color_scheme="dark")
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any
    headers: dict[str, str]

    @property
    def error(self) -> str:
        return str(self.body.get("error", "")) if isinstance(self.body, dict) else ""


def http(
    method: str,
    url: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> Reply:
    """One plain HTTP request (stdlib only); never raises on 4xx/5xx."""
    import json
    import urllib.error
    import urllib.request

    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None and "Content-Type" not in request.headers:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            status, payload, head = response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        status, payload, head = exc.code, exc.read(), dict(exc.headers)
    try:
        parsed: Any = json.loads(payload)
    except ValueError:
        parsed = payload.decode(errors="replace")
    return Reply(status, parsed, head)


@dataclass(frozen=True)
class Login:
    """A logged-in browser: its session cookie and the CSRF token its pages carry."""

    cookie: str  # "hive_session=<id>", as a Cookie header
    csrf: str

    def reads(self) -> dict[str, str]:
        return {"Cookie": self.cookie}

    def writes(self, origin: str) -> dict[str, str]:
        """What the dashboard page itself sends on a write: the cookie, its Origin and CSRF token."""
        return {"Cookie": self.cookie, "Origin": origin, "X-CSRF-Token": self.csrf}


CSRF_META = re.compile(r'name="csrf-token" content="([^"]+)"')


def login_with(link: str) -> Login:
    """Open a one-time login link as a browser would: the cookie it sets, and the dashboard's CSRF token."""
    from http.cookies import SimpleCookie
    from urllib.parse import urlsplit

    opened = http("GET", link)
    assert opened.status == 200, f"login link refused: {opened.body}"
    jar: SimpleCookie = SimpleCookie(opened.headers.get("Set-Cookie", ""))
    cookie = f"hive_session={jar['hive_session'].value}"
    parts = urlsplit(link)
    # Every page embeds the session's CSRF token; an agent's page is the one that reads nothing else.
    page = http("GET", f"{parts.scheme}://{parts.netloc}/agents/manager/", headers={"Cookie": cookie})
    found = CSRF_META.search(str(page.body))
    assert found is not None, str(page.body)[:300]
    return Login(cookie, found.group(1))


def session_headers(served: Served) -> dict[str, str]:
    """What the logged-in dashboard page sends on a read: its session cookie."""
    return served.login().reads()


def browser_headers(served: Served) -> dict[str, str]:
    """What the logged-in dashboard page sends on a write: its cookie, Origin and CSRF token."""
    return served.login().writes(served.url)


def log_in(page: Any, link: str, then: str = "/") -> None:
    """Log ``page``'s browser in through a one-time ``link``, landing on ``then`` (a path, maybe #section)."""
    from urllib.parse import quote, urlsplit

    parts = urlsplit(link)
    page.goto(f"{link}&next={quote(then)}")
    page.wait_for_url(f"{parts.scheme}://{parts.netloc}{then}")


def open_dashboard(page: Any, served: Served, then: str = "/") -> None:
    """The dashboard (or ``then``) in ``page``, logged in with a fresh one-time link."""
    log_in(page, served.login_link(), then)


DASHBOARD_URL = re.compile(r"dashboard on (http://127\.0\.0\.1:\d+)/")


@contextlib.contextmanager
def hive_serve_process(
    layout: StateLayout, *args: str, **env: str
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """A real `hive serve ARGS` on ``layout`` (local runtime, the fake agent as the harness): yields
    the process and its log; afterwards stops it and kills every sandbox it left."""
    from tests.conftest import subprocess_env
    from tests.reconciler.conftest import AGENT_COMMAND, kill_all

    log = layout.root / "serve.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hive", "serve", *args, "--state-dir", str(layout.root)],
            env=subprocess_env(HIVE_AGENT_COMMAND=" ".join(AGENT_COMMAND), **env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc, log
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        kill_all(layout)


@contextlib.contextmanager
def running_hive_serve(layout: StateLayout) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    """`hive_serve_process` with the dashboard on a free port: yields the process, the dashboard URL
    and its log; afterwards also removes the state dir."""
    try:
        with hive_serve_process(layout, HIVE_WEB_PORT="0") as (proc, log):
            yield proc, wait_for_dashboard(proc, log), log
    finally:
        shutil.rmtree(layout.root, ignore_errors=True)


def cli_login_link(layout: StateLayout) -> str:
    """A one-time login link from the real `hive dashboard url` against a running daemon."""
    from tests.conftest import subprocess_env

    done = subprocess.run(
        [sys.executable, "-m", "hive", "dashboard", "url", "--state-dir", str(layout.root)],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def wait_for_dashboard(proc: subprocess.Popen[bytes], log: Path) -> str:
    """The dashboard URL a real `hive serve` prints in ``log``, once it does (30 s at most)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"hive serve exited: {log.read_text()[-2000:]}")
        found = DASHBOARD_URL.search(log.read_text())
        if found:
            return found.group(1)
        time.sleep(0.05)
    raise RuntimeError(f"the dashboard did not come up: {log.read_text()[-2000:]}")


# ---- the dashboard over a real reconciler (local runtime, fake agent) ------------------------


class EventLogSink:
    """The reconciler's EventSink into the host's EventLog (what the daemon does)."""

    def __init__(self, log: EventLog) -> None:
        self.log = log

    def emit(self, event: ReconcilerEvent) -> None:
        self.log.publish(event)


@pytest.fixture
def rec_layout() -> Iterator[StateLayout]:
    root = REPO_ROOT / "test-artifacts" / f"web-{uuid.uuid4().hex[:8]}"
    layout = StateLayout(root)
    root.mkdir(parents=True)
    repo, _ = init_meta_repo(layout.meta, TEST_AUTHOR)
    change = ChangeSet(ops=[AddAgent(agent={"name": "coder", "description": "writes the code"})])
    repo.commit(lambda s: apply_changes(s, change), author=TEST_AUTHOR, message="add coder")
    try:
        yield layout
    finally:
        kill_all(layout)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def with_rec(
    rec_layout: StateLayout, server_loop: asyncio.AbstractEventLoop
) -> Iterator[tuple[Served, Reconciler]]:
    link = ReconcilerLink(rec_layout)
    running: list[Reconciler] = []
    # As the daemon wires it: reads through the link, asks (restart, rebuild, purge) through the control.
    served = serve(rec_layout, server_loop, reconciler=link, control=lambda: LoopControl(running[0]))

    async def make() -> Reconciler:
        runtime = LocalRuntime(rec_layout, AGENT_COMMAND, stop_grace=2.0)
        settings = LoopSettings(health_timeout=20.0)
        return Reconciler(rec_layout, runtime, events=EventLogSink(served.feed), settings=settings)

    rec: Reconciler = served.call(make)
    running.append(rec)
    link.attach(rec.runtime)
    try:
        yield served, rec
    finally:
        served.call(rec.close)
        rec.store.close()
        served.close()
