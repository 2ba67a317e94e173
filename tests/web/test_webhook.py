"""`POST /hooks/forgejo`: Forgejo's push webhook, received by a real dashboard on a real port.

There is no Forgejo server here. A real bare git repo (`forgejo.git`, no
hooks: Forgejo accepts any push) stands in for the Forgejo server's copy of
the meta repo, and the tests play Forgejo's delivery themselves: the push
payload Forgejo sends, signed the way Forgejo signs it (hex HMAC-SHA256 of
the raw body in `X-Forgejo-Signature`). Everything on our side is real: the
meta repo, `git fetch`, the pre-receive hook's validation, the dashboard,
and in the last test `hive serve` with its reconciler and the fake agent
(`tests/seams/fake_agent.py`, the harness's test seam).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from desired import remote
from desired.bootstrap import init_meta_repo
from desired.repo import MAIN, MetaRepo
from hive_kit import wire
from hive_kit.paths import StateLayout
from hive_web.forgejo import write_secret
from tests.conftest import assert_no_traceback, subprocess_env
from tests.reconciler.conftest import REPO_ROOT
from tests.web.conftest import (
    TEST_AUTHOR,
    Reply,
    Served,
    http,
    open_dashboard,
    running_hive_serve,
    screenshot,
    serve,
    session_headers,
)

ZERO = "0" * 40


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, env=subprocess_env(), check=False
    )
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout.strip()


@dataclass
class Forgejo:
    """The stand-in for Forgejo's copy of the meta repo, and a clone to push from."""

    bare: Path
    work: Path

    def commit(self, rel: str, content: str | None, message: str) -> str:
        path = self.work / rel
        if content is None:
            path.unlink()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
        git(self.work, "add", "-A")
        git(self.work, "commit", "-qm", message)
        return git(self.work, "rev-parse", "HEAD")

    def push(self, *extra: str) -> str:
        git(self.work, "push", "-q", *extra, "origin", "HEAD:main")
        return git(self.bare, "rev-parse", "main")


def make_forgejo(meta: Path, tmp: Path) -> Forgejo:
    """A bare repo seeded from the meta repo's main, as an operator seeds a new Forgejo repo."""
    bare, work = tmp / "forgejo.git", tmp / "forgejo-work"
    git(tmp, "init", "-q", "--bare", "-b", "main", str(bare))
    git(tmp, "--git-dir", str(meta), "push", "-q", str(bare), "main")
    git(tmp, "clone", "-q", str(bare), str(work))
    git(work, "config", "user.name", "Reviewer")
    git(work, "config", "user.email", "reviewer@example.test")
    return Forgejo(bare, work)


def payload(after: str, ref: str = "refs/heads/main", before: str = ZERO) -> bytes:
    """The parts of Forgejo's push payload that matter, plus some of the noise it carries."""
    body = {
        "ref": ref,
        "before": before,
        "after": after,
        "compare_url": "https://forgejo.example.test/ops/swarm/compare/a...b",
        "commits": [{"id": after, "message": "add coder\n", "author": {"name": "Reviewer"}}],
        "repository": {"full_name": "ops/swarm", "clone_url": "https://forgejo.example.test/ops/swarm.git"},
        "pusher": {"login": "reviewer"},
    }
    return json.dumps(body).encode()


def deliver(
    url: str,
    body: bytes,
    secret: str | None,
    *,
    event: str = "push",
    header: str = "X-Forgejo-Signature",
    extra: dict[str, str] | None = None,
) -> Reply:
    headers = {"Content-Type": "application/json", "X-Forgejo-Event": event}
    headers["X-Forgejo-Delivery"] = str(uuid.uuid4())
    if secret is not None:
        headers[header] = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return http("POST", f"{url}/hooks/forgejo", raw=body, headers={**headers, **(extra or {})})


@dataclass
class Recorder:
    """The dashboard's operator seam: records what the webhook asks the host core for."""

    asked: list[wire.Request] = field(default_factory=list)

    async def __call__(self, request: wire.Request) -> BaseModel:
        self.asked.append(request)
        return wire.Done(note="a reconcile pass is on its way")


@dataclass
class Setup:
    served: Served
    forgejo: Forgejo
    secret: str
    operator: Recorder

    @property
    def main(self) -> str:
        return str(MetaRepo(self.served.layout.meta).head(MAIN))

    @property
    def tracking(self) -> str | None:
        oid = MetaRepo(self.served.layout.meta).head(remote.TRACKING)
        return str(oid) if oid else None


@pytest.fixture
def hooked(layout: StateLayout, server_loop: asyncio.AbstractEventLoop, tmp_path: Path) -> Iterator[Setup]:
    forgejo = make_forgejo(layout.meta, tmp_path)
    remote.set_remote(MetaRepo(layout.meta), str(forgejo.bare))
    secret, _ = write_secret(layout)
    operator = Recorder()
    served = serve(layout, server_loop, operator=operator)
    yield Setup(served, forgejo, secret, operator)
    served.close()


CODER = json.dumps({"name": "coder", "model": "opus", "description": "writes the code"}, indent=2)


@pytest.mark.parametrize("header", ["X-Forgejo-Signature", "X-Gitea-Signature"])
def test_signed_push_fast_forwards_main_and_asks_for_a_pass(hooked: Setup, header: str) -> None:
    before = hooked.main
    hooked.forgejo.commit("agents/coder.json", CODER, "add coder")
    pushed = hooked.forgejo.push()
    reply = deliver(hooked.served.url, payload(pushed, before=before), hooked.secret, header=header)
    assert reply.status == 202, reply.body
    assert reply.body["fetched"] == pushed and reply.body["reconcile"] == "queued"
    assert reply.body["main"] == {"before": before, "after": pushed, "moved": True}
    assert hooked.main == pushed
    assert [r.op for r in hooked.operator.asked] == ["reconcile_now"]
    assert MetaRepo(hooked.served.layout.meta).load().state.agents["coder"].model == "opus"

    again = deliver(hooked.served.url, payload(pushed, before=before), hooked.secret)
    assert again.status == 202 and again.body["main"]["moved"] is False, "a redelivery changes nothing"

    shown = http("GET", f"{hooked.served.url}/api/hooks/forgejo", headers=session_headers(hooked.served))
    assert shown.status == 200 and shown.body["secret_configured"] is True
    assert [d["outcome"] for d in shown.body["deliveries"]] == ["up-to-date", "fast-forwarded"]
    assert shown.body["deliveries"][1]["fetched"] == pushed


@pytest.fixture
def paged(layout: StateLayout, server_loop: asyncio.AbstractEventLoop, tmp_path: Path) -> Iterator[Setup]:
    """``hooked`` without the operator seam (the page needs no host core; reconcile is "unavailable")."""
    forgejo = make_forgejo(layout.meta, tmp_path)
    remote.set_remote(MetaRepo(layout.meta), str(forgejo.bare))
    secret, _ = write_secret(layout)
    served = serve(layout, server_loop)
    yield Setup(served, forgejo, secret, Recorder())
    served.close()


def test_each_delivery_is_an_event_and_a_live_row_on_the_page(paged: Setup, page: Any) -> None:
    hooked, url = paged, paged.served.url
    open_dashboard(page, hooked.served, "/#desired")
    page.wait_for_selector("#live[data-state=live]")
    page.locator("#hooks-table td.empty").wait_for()
    assert "secret configured" in page.inner_text("#hooks-summary")

    before = hooked.main
    hooked.forgejo.commit("agents/coder.json", CODER, "add coder")
    pushed = hooked.forgejo.push()
    ok = deliver(url, payload(pushed, before=before), hooked.secret, extra={"X-Forgejo-Delivery": "d-ok"})
    assert ok.status == 202, ok.body
    forged = deliver(url, payload(pushed), "forged-secret-xxxxxxxx", extra={"X-Forgejo-Delivery": "d-bad"})
    assert forged.status == 401

    events = [e for e in hooked.served.feed.read_since(0) if e.kind == "webhook_received"]
    got = [e.model_dump(exclude={"seq", "ts"}) for e in events]
    assert got[0] == {
        "kind": "webhook_received",
        "source": "forgejo",
        "delivery": "d-ok",
        "event": "push",
        "ref": "refs/heads/main",
        "after": pushed,
        "status": 202,
        "outcome": "fast-forwarded",
        "message": f"main {before[:12]} → {pushed[:12]}; reconcile unavailable",
    }
    assert (got[1]["delivery"], got[1]["status"], got[1]["outcome"]) == ("d-bad", 401, "unauthorized")
    assert got[1]["ref"] == "" and got[1]["after"] == "", "nothing from an unsigned body is kept"

    fresh = page.locator("#hooks-table tr[data-delivery=d-ok]")
    fresh.locator(".pill", has_text="fast-forwarded").wait_for()
    assert pushed[:10] in fresh.inner_text() and "202" in fresh.inner_text()
    page.locator("#hooks-table tr[data-delivery=d-bad] .pill", has_text="unauthorized").wait_for()
    assert page.locator("#hooks-table tbody tr").count() == 2, "the live rows are not doubled"
    page.reload()
    page.wait_for_selector("#live[data-state=live]")
    page.locator("#hooks-table tr[data-delivery=d-ok]").wait_for()
    assert page.locator("#hooks-table tbody tr").count() == 2
    screenshot(page, "webhook-deliveries")


def test_bad_or_missing_signature_is_401_and_nothing_is_fetched(hooked: Setup) -> None:
    before = hooked.main
    hooked.forgejo.commit("agents/coder.json", CODER, "add coder")
    pushed = hooked.forgejo.push()
    body = payload(pushed)
    wrong = deliver(hooked.served.url, body, "not-the-secret-at-all")
    assert wrong.status == 401 and "bad signature" in wrong.error
    missing = deliver(hooked.served.url, body, None)
    assert missing.status == 401 and "missing X-Forgejo-Signature" in missing.error
    tampered = deliver(
        hooked.served.url,
        body,
        None,
        extra={"X-Forgejo-Signature": hmac.new(hooked.secret.encode(), body + b" ", "sha256").hexdigest()},
    )
    assert tampered.status == 401
    assert hooked.main == before and hooked.tracking is None, "nothing fetched, nothing moved"
    assert hooked.operator.asked == []


def test_invalid_desired_state_is_refused_naming_the_file(hooked: Setup) -> None:
    before = hooked.main
    hooked.forgejo.commit("agents/coder.json", json.dumps({"name": "coder", "modle": "opus"}), "typo")
    pushed = hooked.forgejo.push()
    reply = deliver(hooked.served.url, payload(pushed), hooked.secret)
    assert reply.status == 422, reply.body
    assert "refs/heads/main: agents/coder.json is invalid" in reply.error
    assert "main unchanged" in reply.error
    assert reply.body["problems"][0]["file"] == "agents/coder.json"
    assert "unknown field 'modle'" in reply.body["problems"][0]["message"]
    assert reply.body["fetched"] == pushed and hooked.tracking == pushed, "fetched, but not taken"
    assert hooked.main == before and hooked.operator.asked == []

    fixed = hooked.forgejo.commit("agents/coder.json", CODER, "fix the typo")
    assert hooked.forgejo.push() == fixed
    ok = deliver(hooked.served.url, payload(fixed), hooked.secret)
    assert ok.status == 202 and hooked.main == fixed, "a valid tip lands, like a push of it would"


def test_non_fast_forward_is_refused(hooked: Setup) -> None:
    before = hooked.main
    git(hooked.forgejo.work, "checkout", "-q", "--orphan", "rewrite")
    hooked.forgejo.commit("README.md", "# someone else's history\n", "unrelated root")
    pushed = hooked.forgejo.push("--force")
    reply = deliver(hooked.served.url, payload(pushed), hooked.secret)
    assert reply.status == 409, reply.body
    assert "is not a fast-forward of main" in reply.error and "main unchanged" in reply.error
    assert hooked.main == before and hooked.operator.asked == []


def test_bodies_events_and_refs_that_move_nothing(hooked: Setup) -> None:
    url, before = hooked.served.url, hooked.main
    big = b'{"ref": "refs/heads/main", "pad": "' + b"x" * (1024 * 1024 + 10) + b'"}'
    assert deliver(url, big, hooked.secret).status == 413
    not_json = deliver(url, b"payload=%7B%7D", hooked.secret)
    assert not_json.status == 400 and "application/json" in not_json.error
    array = deliver(url, b"[1, 2]", hooked.secret)
    assert array.status == 400 and "JSON object" in array.error
    issue = deliver(url, b'{"action": "opened"}', hooked.secret, event="issues")
    assert issue.status == 202 and issue.body["ignored"] is True and "'issues'" in issue.body["reason"]
    branch = deliver(url, payload("a" * 40, ref="refs/heads/proposals/7"), hooked.secret)
    assert branch.status == 202 and branch.body["ignored"] is True and "proposals/7" in branch.body["reason"]
    no_ref = deliver(url, b'{"after": "abc"}', hooked.secret)
    assert no_ref.status == 400 and "ref" in no_ref.error
    assert hooked.main == before and hooked.tracking is None and hooked.operator.asked == []


def test_without_a_secret_the_hook_says_how_to_set_it_up(
    layout: StateLayout, server_loop: asyncio.AbstractEventLoop
) -> None:
    served = serve(layout, server_loop)
    try:
        reply = deliver(served.url, payload("a" * 40), "whatever-the-sender-thinks")
        assert reply.status == 503 and "hive webhook secret" in reply.error
    finally:
        served.close()


def test_without_a_remote_a_push_only_reconciles(
    layout: StateLayout, server_loop: asyncio.AbstractEventLoop
) -> None:
    secret, _ = write_secret(layout)
    operator = Recorder()
    served = serve(layout, server_loop, operator=operator)
    try:
        before = str(MetaRepo(layout.meta).head(MAIN))
        reply = deliver(served.url, payload(before), secret)
        assert reply.status == 202 and reply.body["reconcile"] == "queued" and "fetched" not in reply.body
        assert "no remote" in reply.body["note"]
        assert [r.op for r in operator.asked] == ["reconcile_now"]
    finally:
        served.close()


def test_the_hook_needs_no_dashboard_session_even_off_loopback(
    layout: StateLayout, server_loop: asyncio.AbstractEventLoop
) -> None:
    """Every other route needs a session or the token; the webhook is signed instead, and needs no CSRF."""
    secret, _ = write_secret(layout)
    served = serve(layout, server_loop, host="0.0.0.0")
    try:
        assert http("GET", f"{served.url}/api/hooks/forgejo").status == 401
        reply = deliver(served.url, payload(str(MetaRepo(layout.meta).head(MAIN))), secret)
        assert reply.status == 202, reply.body
        assert reply.body["reconcile"] == "unavailable", "no host core in this app; said, not failed"
        assert deliver(served.url, payload("a" * 40), "forged").status == 401
        sneaky = http("POST", f"{served.url}/hooks/../api/reconcile", body={})
        assert sneaky.status in (401, 404), "a path under /hooks/ never reaches another route unauthenticated"
    finally:
        served.close()


def test_secret_cli_creates_keeps_and_rotates(tmp_path: Path) -> None:
    state = tmp_path / "state"
    run = [sys.executable, "-m", "hive"]
    env = subprocess_env(HIVE_WEB_PORT="7000")
    assert subprocess.run([*run, "init", "--state-dir", str(state)], env=env, check=False).returncode == 0

    def secret(*args: str) -> dict[str, Any]:
        done = subprocess.run(
            [*run, "webhook", "secret", "--json", "--state-dir", str(state), *args],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return dict(json.loads(done.stdout))

    first = secret()
    path = state / "secrets" / "forgejo-webhook"
    assert first["written"] is True and first["path"] == str(path)
    assert first["url"] == "http://127.0.0.1:7000/hooks/forgejo" and first["remote"] is None
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.read_text().strip() == first["secret"]
    assert secret()["secret"] == first["secret"], "asking again shows the same secret"
    rotated = secret("--rotate")
    assert rotated["written"] is True and rotated["secret"] != first["secret"]
    text = subprocess.run(
        [*run, "webhook", "secret", "--state-dir", str(state)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Target URL: http://127.0.0.1:7000/hooks/forgejo" in text and "application/json" in text


def _hive(layout: StateLayout, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "hive", *args, "--state-dir", str(layout.root)],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert_no_traceback(done)
    return done


@dataclass
class Daemon:
    layout: StateLayout
    url: str
    forgejo: Forgejo
    secret: str


@pytest.fixture
def daemon() -> Iterator[Daemon]:
    """`hive serve` set up the way the operator's how-to says: secret, remote, seeded Forgejo repo."""
    layout = StateLayout(REPO_ROOT / "test-artifacts" / f"webhook-{uuid.uuid4().hex[:8]}")
    layout.root.mkdir(parents=True)
    init_meta_repo(layout.meta, TEST_AUTHOR)
    forgejo = make_forgejo(layout.meta, layout.root)
    made = _hive(layout, "desired", "remote", "set", str(forgejo.bare))
    assert made.returncode == 0, made.stderr
    secret = json.loads(_hive(layout, "webhook", "secret", "--json").stdout)["secret"]
    with running_hive_serve(layout) as (_proc, url, _log):
        yield Daemon(layout, url, forgejo, secret)


def _ready(layout: StateLayout, name: str) -> bool:
    status = json.loads(_hive(layout, "status", "--json").stdout or "{}")
    for agent in status.get("agents", []):
        if agent["name"] == name:
            ready = next(c for c in agent["conditions"] if c["type"] == "Ready")
            return bool(ready["status"] is True and ready["reason"] == "Deployed")
    return False


@pytest.mark.slow
def test_push_in_forgejo_reaches_a_running_swarm(daemon: Daemon) -> None:
    """The whole path: review lands in Forgejo → webhook → main follows → the reconciler deploys."""
    daemon.forgejo.commit("agents/coder.json", CODER, "add coder (reviewed in Forgejo)")
    pushed = daemon.forgejo.push()
    delivery = str(uuid.uuid4())
    reply = deliver(daemon.url, payload(pushed), daemon.secret, extra={"X-Forgejo-Delivery": delivery})
    assert reply.status == 202, reply.body
    assert reply.body["fetched"] == pushed and reply.body["reconcile"] == "queued"
    assert str(MetaRepo(daemon.layout.meta).head(MAIN)) == pushed
    listed_events = _hive(daemon.layout, "events", "--json").stdout.splitlines()
    received = [e for e in map(json.loads, listed_events) if e["kind"] == "webhook_received"]
    assert [(e["delivery"], e["status"], e["outcome"], e["after"]) for e in received] == [
        (delivery, 202, "fast-forwarded", pushed)
    ]

    deadline = time.monotonic() + 60
    while not _ready(daemon.layout, "coder"):
        assert time.monotonic() < deadline, _hive(daemon.layout, "status").stdout
        time.sleep(0.3)
    listed = json.loads(_hive(daemon.layout, "agent", "list", "--json").stdout)
    assert "coder" in [a["name"] for a in listed["agents"]]
    plan = _hive(daemon.layout, "reconcile", "--dry-run")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    served_log = (daemon.layout.root / "serve.log").read_text()
    assert "forgejo webhook: delivery" in served_log and "fast-forwarded" in served_log


def test_remote_cli_follows_forgejo_through_the_push_gate(layout: StateLayout, tmp_path: Path) -> None:
    forgejo = make_forgejo(layout.meta, tmp_path)
    assert _hive(layout, "desired", "remote", "show", "--json").stdout.count('"url": null') == 1
    assert _hive(layout, "desired", "remote", "set", str(forgejo.bare)).returncode == 0
    before = str(MetaRepo(layout.meta).head(MAIN))

    forgejo.commit("agents/coder.json", json.dumps({"name": "coder", "modle": "opus"}), "typo")
    bad = forgejo.push()
    refused = _hive(layout, "desired", "remote", "pull")
    assert refused.returncode == 1 and "agents/coder.json is invalid" in refused.stderr
    assert str(MetaRepo(layout.meta).head(MAIN)) == before

    good = forgejo.commit("agents/coder.json", CODER, "fix")
    forgejo.push()
    pulled = json.loads(_hive(layout, "desired", "remote", "pull", "--json").stdout)
    assert pulled == {"fetched": good, "before": before, "after": good, "moved": True}
    shown = json.loads(_hive(layout, "desired", "remote", "show", "--json").stdout)
    assert shown["url"] == str(forgejo.bare) and shown["fetched"] == good and bad != good
    assert "removed" in _hive(layout, "desired", "remote", "unset").stdout


def test_tokens_in_remote_urls_are_masked() -> None:
    assert remote.redact("https://bot:s3cret@forgejo.example:3000/ops/swarm.git") == (
        "https://bot:***@forgejo.example:3000/ops/swarm.git"
    )
    assert (
        remote.redact("ssh://git@forgejo.example/ops/swarm.git") == "ssh://git@forgejo.example/ops/swarm.git"
    )
