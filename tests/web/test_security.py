"""Who may use the dashboard and which writes it accepts: login, sessions, token, Origin, CSRF, Host.

The default bind is loopback, and anything on the host can reach loopback (an
agent's shell among them), so nothing is open there either: every route but
the login page, static assets and the signed webhook needs a session or the
bearer token. ``test_every_route_refuses_a_request_without_a_session`` walks
the app's own router, so a route added later is covered without editing it.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import shutil
import ssl
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiohttp import web

from hive_core.events import MessageSent
from hive_core.logins import LoginCodes
from hive_kit.paths import StateLayout
from hive_web.routes.pages import CODE_SPENT
from hive_web.security import TOKEN_FILE, safe_next
from hive_web.sessions import SESSIONS_FILE
from tests.web.conftest import Served, browser_headers, http, login_with, screenshot, serve, session_headers

PUBLIC = {("GET", "/login"), ("HEAD", "/login"), ("POST", "/login"), ("POST", "/hooks/forgejo")}
SAMPLES = ("coder", "1", "api/state", "send")


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def _main(served: Served) -> str:
    return str(served.repo.head())


def _routes(served: Served) -> Iterator[tuple[str, str]]:
    """(method, a concrete path) for every route the app has, static files included."""
    assert served.runner is not None
    for route in served.runner.app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        if "prefix" in info:
            yield route.method, f"{info['prefix']}/dashboard.css"
        elif "path" in info:
            yield route.method, info["path"]
        else:
            yield route.method, _concrete(info["formatter"], info["pattern"])


def _concrete(formatter: str, pattern: re.Pattern[str]) -> str:
    keys = re.findall(r"\{(\w+)", formatter)
    for values in itertools.product(SAMPLES, repeat=len(keys)):
        path = formatter
        for value in values:
            path = re.sub(r"\{[^}]+\}", value, path, count=1)
        if pattern.fullmatch(path):
            return path
    raise AssertionError(f"no sample path for {formatter}: add one to SAMPLES")


def test_every_route_refuses_a_request_without_a_session(dashboard: Served) -> None:
    found = set(_routes(dashboard))
    assert len(found) > 40, found
    public = {(m, p) for m, p in found if (m, p) in PUBLIC or p.startswith("/static/")}
    assert public == PUBLIC | {("GET", "/static/dashboard.css"), ("HEAD", "/static/dashboard.css")}, (
        "a new public route: is it meant to be reachable without logging in?"
    )
    forged = {"Cookie": "hive_session=made-up", "Origin": dashboard.url, "X-CSRF-Token": "x" * 43}
    for method, path in sorted(found - public):
        for extra in ({}, forged):
            reply = http(method, dashboard.url + path, {} if method == "POST" else None, headers=extra)
            assert reply.status == 401, (method, path, reply.status, reply.body)
            if method != "HEAD":
                assert "not logged in" in reply.error, (method, path, reply.body)
        if method == "GET":  # a page load (or a link) goes to the login page instead
            page = _no_redirect(dashboard.url + path, {"Accept": "text/html"})
            assert page.status == 303 and page.headers["Location"].startswith("/login"), (path, page)


def _no_redirect(url: str, headers: dict[str, str]) -> Any:
    import http.client

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""), headers=headers)
        response = conn.getresponse()
        response.read()
        return response
    finally:
        conn.close()


def test_a_page_load_comes_back_to_the_page_after_login(dashboard: Served) -> None:
    redirect = _no_redirect(dashboard.url + "/agents/coder/", {"Accept": "text/html"})
    location = urlsplit(redirect.headers["Location"])
    assert location.path == "/login" and parse_qs(location.query) == {"next": ["/agents/coder/"]}
    assert safe_next("/agents/coder/") == "/agents/coder/"
    for outside in ("//evil.example/", "https://evil.example/", "/\\evil.example", "evil", "/\nx"):
        assert safe_next(outside) == "/"


def test_another_local_process_reads_and_writes_nothing(dashboard: Served) -> None:
    """What an agent's shell on this host can do with curl and no cookie: nothing."""
    curl = shutil.which("curl")
    assert curl is not None, "curl is needed for this test"

    def run(*args: str) -> tuple[int, str]:
        done = subprocess.run(
            [curl, "-s", "-o", "-", "-w", "\n%{http_code}", *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        body, _, code = done.stdout.rpartition("\n")
        return int(code), body

    dashboard.publish(MessageSent(id=1, sender="coder", recipient="operator", preview="secret plans"))
    before = _main(dashboard)
    status, body = run(f"{dashboard.url}/")
    assert status == 401 and "csrf" not in body.lower()
    status, body = run("-H", "Accept: text/html", f"{dashboard.url}/")
    assert status == 303 and "csrf" not in body.lower()
    status, body = run(f"{dashboard.url}/login")
    assert status == 200 and "csrf" not in body.lower() and dashboard.token not in body
    for path in ("/api/state", "/api/stream", "/api/desired", "/api/state-file?agent=manager&path=notes.md"):
        status, body = run(f"{dashboard.url}{path}")
        assert status == 401 and "secret plans" not in body, (path, body)
    origin = ["-H", f"Origin: {dashboard.url}", "-H", "Content-Type: application/json"]
    for path, payload in (
        ("/api/messages", '{"to": "coder", "body": "as the operator"}'),
        ("/api/approvals/1/approve", "{}"),
        ("/api/agents/manager/stop", "{}"),
        ("/agents/coder/api/send", '{"body": "as the operator"}'),
    ):
        status, body = run("-X", "POST", *origin, "-d", payload, f"{dashboard.url}{path}")
        assert status == 401, (path, body)
    assert _main(dashboard) == before


def test_a_one_time_link_works_once_and_expires(
    layout: StateLayout, server_loop: asyncio.AbstractEventLoop
) -> None:
    clock = Clock()
    served = serve(layout, server_loop, logins=LoginCodes(clock))
    try:
        link = served.login_link()
        assert re.fullmatch(rf"{served.url}/login\?code=[\w-]{{32}}", link), link
        first = http("GET", link)
        assert first.status == 200 and "hive_session=" in first.headers["Set-Cookie"]
        again = http("GET", link)
        assert again.status == 401 and CODE_SPENT in str(again.body)
        assert "Set-Cookie" not in again.headers
        late = served.login_link()
        clock.now += 301
        assert http("GET", late).status == 401, "five minutes, not more"
        assert http("GET", f"{served.url}/login?code=guessed").status == 401
        login_with(served.login_link())  # a new link after all that still works
    finally:
        served.close()


def test_the_session_cookie_is_httponly_strict_and_random(dashboard: Served) -> None:
    first = http("GET", dashboard.login_link()).headers["Set-Cookie"]
    second = http("GET", dashboard.login_link()).headers["Set-Cookie"]
    for cookie in (first, second):
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
        assert "Secure" not in cookie, "plain http here; Secure is set when served over https"
        assert dashboard.token not in cookie
    assert first != second


def test_the_cookie_is_secure_over_https(layout: StateLayout, server_loop: asyncio.AbstractEventLoop) -> None:
    served = serve(layout, server_loop)
    try:
        assert served.runner is not None
        app = served.runner.app

        async def over_https() -> web.StreamResponse:
            from aiohttp.test_utils import make_mocked_request

            from hive_web.routes.pages import _logged_in

            request = make_mocked_request("GET", "/login", app=app, sslcontext=ssl.create_default_context())
            return _logged_in(request, "/")

        response = served.call(over_https)
        cookie = response.cookies["hive_session"]
        assert cookie["secure"] and cookie["httponly"] and cookie["samesite"] == "Strict"
    finally:
        served.close()


def test_logging_in_with_the_token_and_out(
    layout: StateLayout, server_loop: asyncio.AbstractEventLoop, browser: Any
) -> None:
    served = serve(layout, server_loop)
    context = browser.new_context(viewport={"width": 1400, "height": 700}, color_scheme="dark")
    try:
        page = context.new_page()
        page.goto(served.url + "/agents/manager/")
        assert "/login?next=" in page.url
        screenshot(page, "login")
        page.fill("input[name=token]", "nope")
        page.click("button[type=submit]")
        assert "wrong token" in page.inner_text("body")
        page.fill("input[name=token]", served.token)
        page.click("button[type=submit]")
        page.wait_for_url(served.url + "/agents/manager/")
        page.goto(served.url + "/")
        page.wait_for_selector("#swarm-table tr[data-agent=manager]")
        page.wait_for_selector("#live[data-state=live]")
        screenshot(page, "logged-in")
        cookies = {c["name"]: c for c in context.cookies()}
        assert cookies["hive_session"]["httpOnly"] and cookies["hive_session"]["sameSite"] == "Strict"
        page.click("#logout button")
        page.wait_for_url(served.url + "/login")
        stale = http(
            "GET",
            f"{served.url}/api/state",
            headers={"Cookie": f"hive_session={cookies['hive_session']['value']}"},
        )
        assert stale.status == 401, "logging out ends the session on the server, not just in the browser"
    finally:
        context.close()
        served.close()


def test_sessions_survive_a_restart_but_not_a_new_token(dashboard: Served) -> None:
    reads = session_headers(dashboard)
    assert http("GET", f"{dashboard.url}/api/state", headers=reads).status == 200
    dashboard.restart()
    assert http("GET", f"{dashboard.url}/api/state", headers=reads).status == 200
    saved = (dashboard.layout.root / SESSIONS_FILE).read_text()
    assert reads["Cookie"].split("=", 1)[1] not in saved, "only digests of session ids are kept"
    assert stat.S_IMODE((dashboard.layout.root / SESSIONS_FILE).stat().st_mode) == 0o600
    (dashboard.layout.root / TOKEN_FILE).write_text("a-brand-new-token-of-enough-length\n")
    dashboard.restart()
    assert http("GET", f"{dashboard.url}/api/state", headers=reads).status == 401


def test_token_file_is_created_0600_once_and_reused(
    layout: StateLayout, server_loop: asyncio.AbstractEventLoop
) -> None:
    first = serve(layout, server_loop)
    first.close()
    path = layout.root / TOKEN_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.chmod(0o644)
    second = serve(layout, server_loop)
    second.close()
    assert second.token == first.token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_bearer_token_works_and_a_wrong_one_is_refused(dashboard: Served) -> None:
    url = f"{dashboard.url}/api/state"
    assert http("GET", url, headers={"Authorization": f"Bearer {dashboard.token}"}).status == 200
    wrong = http("GET", url, headers={"Authorization": "Bearer nope", **session_headers(dashboard)})
    assert wrong.status == 401, "a wrong token is refused even beside a good cookie"
    assert "wrong token" in wrong.error


def test_a_non_loopback_bind_works_the_same(
    layout: StateLayout, server_loop: asyncio.AbstractEventLoop
) -> None:
    served = serve(layout, server_loop, host="0.0.0.0")
    try:
        url = f"{served.url}/api/state"
        assert http("GET", url).status == 401
        assert http("GET", url, headers={"Authorization": f"Bearer {served.token}"}).status == 200
        assert http("GET", url, headers=session_headers(served)).status == 200
    finally:
        served.close()


def test_writes_need_same_origin_and_the_csrf_token(dashboard: Served) -> None:
    url = f"{dashboard.url}/api/agents/manager/stop"
    cookie = session_headers(dashboard)
    before = _main(dashboard)
    no_origin = http("POST", url, headers={"X-CSRF-Token": dashboard.csrf, **cookie})
    assert no_origin.status == 403
    assert "missing Origin" in no_origin.error
    foreign = http(
        "POST", url, headers={"Origin": "http://evil.example", "X-CSRF-Token": dashboard.csrf, **cookie}
    )
    assert foreign.status == 403
    assert "cross-origin" in foreign.error
    no_token = http("POST", url, headers={"Origin": dashboard.url, **cookie})
    assert no_token.status == 403
    assert "missing CSRF token" in no_token.error
    wrong = http("POST", url, headers={"Origin": dashboard.url, "X-CSRF-Token": "0" * 43, **cookie})
    assert wrong.status == 403
    assert "wrong CSRF token" in wrong.error
    other = login_with(dashboard.login_link())  # another browser's session: its own CSRF token
    mixed = http("POST", url, headers={"Origin": dashboard.url, "X-CSRF-Token": other.csrf, **cookie})
    assert mixed.status == 403 and other.csrf != dashboard.csrf
    login_elsewhere = http(
        "POST",
        f"{dashboard.url}/login",
        raw=b"token=x",
        headers={"Origin": "http://evil.example", "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert login_elsewhere.status == 403, "the login form is same-origin too"
    assert _main(dashboard) == before
    ok = http("POST", url, headers=browser_headers(dashboard))
    assert ok.status == 200, ok.body
    assert _main(dashboard) != before


def test_bearer_clients_skip_csrf(dashboard: Served) -> None:
    reply = http(
        "POST",
        f"{dashboard.url}/api/agents/manager/stop",
        headers={"Authorization": f"Bearer {dashboard.token}"},
    )
    assert reply.status == 200, reply.body


def test_foreign_host_header_is_refused_on_loopback(dashboard: Served) -> None:
    for path in ("/api/state", "/login"):
        reply = http("GET", f"{dashboard.url}{path}", headers={"Host": "evil.example:7000"})
        assert reply.status == 421
        assert "not this dashboard" in reply.error


def test_oversized_body_is_refused_and_changes_nothing(dashboard: Served) -> None:
    before = _main(dashboard)
    body = b'{"name": "big", "description": "' + b"x" * (300 * 1024) + b'"}'
    reply = http("POST", f"{dashboard.url}/api/agents", raw=body, headers=browser_headers(dashboard))
    assert reply.status == 413
    assert "Maximum request body size" in reply.error
    assert _main(dashboard) == before


def test_security_headers(dashboard: Served) -> None:
    for reply in (
        http("GET", f"{dashboard.url}/api/state", headers=session_headers(dashboard)),
        http("GET", f"{dashboard.url}/login"),
    ):
        assert reply.headers["X-Frame-Options"] == "DENY"
        assert reply.headers["X-Content-Type-Options"] == "nosniff"
        assert "script-src 'self'" in reply.headers["Content-Security-Policy"]


def test_a_hostile_harness_cannot_serve_a_page_from_the_dashboards_origin(
    layout: StateLayout, server_loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    """The agent page API is the agent's: whatever content type it claims, the dashboard answers JSON."""
    evil = "<script>fetch('/api/messages', {method: 'POST'})</script>"

    async def html(_request: web.Request) -> web.Response:
        return web.Response(text=evil, content_type="text/html")

    sock = tmp_path / "page.sock"

    async def up() -> web.AppRunner:
        app = web.Application()
        app.router.add_get("/api/state", html)
        app.router.add_post("/api/send", html)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.UnixSite(runner, str(sock)).start()
        return runner

    served = serve(layout, server_loop, agent_page=lambda name: sock if name == "coder" else None)
    runner = served.call(up)
    try:
        got = http("GET", f"{served.url}/agents/coder/api/state", headers=session_headers(served))
        sent = http(
            "POST", f"{served.url}/agents/coder/api/send", {"body": "x"}, headers=browser_headers(served)
        )
        for reply in (got, sent):
            assert reply.headers["Content-Type"].startswith("application/json"), reply.headers
            assert reply.headers["X-Content-Type-Options"] == "nosniff"
    finally:
        served.call(runner.cleanup)
        served.close()
