"""`hive send|inbox|questions|answer|reminders|events` against a real `hive serve`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hive_kit import wire
from hive_kit.client import SyncClient
from tests.conftest import HiveRunner, subprocess_env
from tests.core.conftest import Process

pytestmark = pytest.mark.slow


@pytest.fixture
def hive_on(serve_process: Process, hive: HiveRunner) -> HiveRunner:
    serve_process.start()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return hive(*args, "--state-dir", str(serve_process.layout.root), state=False)

    return run


def test_operator_round_trip(hive_on: HiveRunner, serve_process: Process) -> None:
    layout = serve_process.layout
    sent = hive_on("send", "peer", "please review", "--json")
    assert sent.returncode == 0, sent.stderr
    assert json.loads(sent.stdout)["recipients"] == ["peer"]

    with SyncClient(layout.agent_socket("peer")) as peer:
        [m] = peer.request(wire.Recv(max=5)).messages
        assert (m.sender, m.body) == ("operator", "please review")
        peer.request(wire.Send(to="operator", body="done, LGTM", in_reply_to=m.id))
        asked = peer.request(wire.Ask(question="merge now?", options=["yes", "no"])).question
        peer.request(wire.Remind(message="re-check CI", delay_seconds=3600))

    inbox = hive_on("inbox", "--json")
    assert [(m["sender"], m["body"]) for m in json.loads(inbox.stdout)] == [("peer", "done, LGTM")]
    assert "done, LGTM" in hive_on("inbox").stdout  # the table still shows read messages
    assert json.loads(hive_on("inbox", "--unread", "--json").stdout) == []

    questions = hive_on("questions")
    assert "merge now?" in questions.stdout and "yes | no" in questions.stdout
    assert hive_on("answer", str(asked.id), "yes").returncode == 0
    assert json.loads(hive_on("questions", "--json").stdout) == []

    reminders = json.loads(hive_on("reminders", "--json").stdout)
    assert [(r["agent"], r["message"]) for r in reminders] == [("peer", "re-check CI")]
    assert hive_on("reminders", "--cancel", str(reminders[0]["id"])).returncode == 0
    assert json.loads(hive_on("reminders", "--json").stdout) == []

    events = [json.loads(line) for line in hive_on("events", "--json").stdout.splitlines()]
    kinds = [e["kind"] for e in events if not e["kind"].startswith("agent_")]  # the reconciler's own
    assert kinds[0] == "message_sent" and "question_resolved" in kinds and "reminder_cancelled" in kinds
    assert [e["seq"] for e in events] == sorted({e["seq"] for e in events})
    later = hive_on("events", "--json", "--since", str(events[-2]["seq"])).stdout.splitlines()
    assert [json.loads(line)["seq"] for line in later] == [events[-1]["seq"]]


def test_events_follow_streams_new_events(hive_on: HiveRunner, serve_process: Process) -> None:
    root = str(serve_process.layout.root)
    follower = subprocess.Popen(
        [sys.executable, "-m", "hive", "events", "--follow", "--json", "--state-dir", root],
        stdout=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
    )
    try:
        assert hive_on("send", "peer", "streamed").returncode == 0
        assert follower.stdout is not None
        first = json.loads(follower.stdout.readline())
        while first["kind"] != "message_sent":  # skip what the reconciler published meanwhile
            first = json.loads(follower.stdout.readline())
        assert first["recipient"] == "peer"
    finally:
        follower.kill()
        follower.wait(10)
        if follower.stdout is not None:
            follower.stdout.close()


def test_clear_errors(hive_on: HiveRunner, hive: HiveRunner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    refused = hive_on("send", "nobody", "x")
    assert refused.returncode == 1 and "no agent named 'nobody'" in refused.stderr
    wrong = hive_on("answer", "999", "x")
    assert wrong.returncode == 1 and "no question #999" in wrong.stderr
    down = hive("inbox", "--state-dir", str(tmp_path / "nothing"), state=False)
    assert down.returncode == 1 and "no hive state dir" in down.stderr and "hive init" in down.stderr
