"""Who may use the dashboard and which writes it accepts: token, Origin, CSRF, Host, body size."""

from __future__ import annotations

import asyncio
import stat

from hive_kit.paths import StateLayout
from hive_web.security import TOKEN_FILE
from tests.web.conftest import Served, browser_headers, http, serve


def _main(served: Served) -> str:
    return str(served.repo.head())


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


def test_loopback_needs_no_token_but_refuses_a_wrong_one(dashboard: Served) -> None:
    assert http("GET", f"{dashboard.url}/api/state").status == 200
    wrong = http("GET", f"{dashboard.url}/api/state", headers={"Authorization": "Bearer nope"})
    assert wrong.status == 401
    assert "wrong token" in wrong.error


def test_non_loopback_bind_requires_the_token(
    layout: StateLayout, server_loop: asyncio.AbstractEventLoop
) -> None:
    served = serve(layout, server_loop, host="0.0.0.0")
    try:
        url = f"{served.url}/api/state"
        missing = http("GET", url)
        assert missing.status == 401
        assert "needs its token" in missing.error
        wrong = http("GET", url, headers={"Authorization": "Bearer not-the-token"})
        assert wrong.status == 401
        assert "wrong token" in wrong.error
        assert http("GET", url, headers={"Authorization": f"Bearer {served.token}"}).status == 200
        before = _main(served)
        write = http("POST", f"{served.url}/api/agents/manager/stop", headers={"Origin": served.url})
        assert write.status == 401
        assert _main(served) == before
        assert http("GET", f"{served.url}/healthz").status == 200
    finally:
        served.close()


def test_login_form_sets_a_session_cookie(
    layout: StateLayout, server_loop: asyncio.AbstractEventLoop, browser: object
) -> None:
    served = serve(layout, server_loop, host="0.0.0.0")
    context = browser.new_context()  # type: ignore[attr-defined]
    try:
        page = context.new_page()
        page.goto(served.url + "/")
        assert page.url.endswith("/login")
        page.fill("input[name=token]", "nope")
        page.click("button[type=submit]")
        assert "wrong token" in page.inner_text("body")
        page.fill("input[name=token]", served.token)
        page.click("button[type=submit]")
        page.wait_for_selector("#swarm-table tr[data-agent=manager]")
    finally:
        context.close()
        served.close()


def test_writes_need_same_origin_and_the_csrf_token(dashboard: Served) -> None:
    url = f"{dashboard.url}/api/agents/manager/stop"
    before = _main(dashboard)
    no_origin = http("POST", url, headers={"X-CSRF-Token": dashboard.csrf})
    assert no_origin.status == 403
    assert "missing Origin" in no_origin.error
    foreign = http("POST", url, headers={"Origin": "http://evil.example", "X-CSRF-Token": dashboard.csrf})
    assert foreign.status == 403
    assert "cross-origin" in foreign.error
    no_token = http("POST", url, headers={"Origin": dashboard.url})
    assert no_token.status == 403
    assert "missing CSRF token" in no_token.error
    wrong = http("POST", url, headers={"Origin": dashboard.url, "X-CSRF-Token": "0" * 64})
    assert wrong.status == 403
    assert "wrong CSRF token" in wrong.error
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
    reply = http("GET", f"{dashboard.url}/api/state", headers={"Host": "evil.example:7000"})
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
    reply = http("GET", f"{dashboard.url}/api/state")
    assert reply.headers["X-Frame-Options"] == "DENY"
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
