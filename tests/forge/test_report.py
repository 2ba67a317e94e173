"""The texts Forgejo shows, as pure functions: statuses, the plan comment, the report page."""

from __future__ import annotations

from hive_core.forge.report import (
    Checks,
    PlanView,
    apply_status,
    comment_body,
    is_final,
    outbox_items,
    validate_status,
)
from hive_kit.errors import Problem
from hive_web.forge_checks import report_page

SHA = "a" * 40


def _plan(*lines: str) -> PlanView:
    return PlanView(
        revision=SHA, lines=(*lines, "Plan: 1 to create, 0 to change, 0 to destroy."), counts=(1, 0, 0)
    )


def test_a_description_cannot_break_out_of_the_fenced_plan() -> None:
    """Agent-written text (a proposed description) lands in the plan; it must stay code, not markdown."""
    hostile = '      + description = "```\\n[click](http://evil.test) <img src=x onerror=alert(1)>"'
    body = comment_body(Checks(sha=SHA, ref="refs/pull/1/head", plan=_plan(hostile), pull=1), "http://dash")
    fenced = body.split("```\n", 1)[1].rsplit("\n```", 1)[0]
    assert "```" not in fenced and "[click]" in fenced, "the fence closes only where we close it"
    assert body.count("\n```") == 2


def test_the_first_problem_names_file_field_and_fix_and_counts_the_rest() -> None:
    problems = (
        Problem("agents/coder.json", "$.modle", "unknown field 'modle'", "remove it"),
        Problem("agents/b.json", "$.model", "x" * 400),
    )
    status = validate_status(Checks(sha=SHA, ref="refs/heads/x", problems=problems), "http://dash")
    assert (
        status["description"] == "agents/coder.json: $.modle: unknown field 'modle'; fix: remove it (+1 more)"
    )
    long = validate_status(Checks(sha=SHA, ref="r", problems=problems[1:]), "http://dash")
    assert len(long["description"]) == 255 and long["description"].endswith("…")
    assert long["target_url"] == f"http://dash/forge/reports/v-{SHA[:16]}"


def test_the_same_head_and_swarm_give_the_same_plan_id_and_payloads() -> None:
    a = Checks(sha=SHA, ref="r", plan=_plan("  + coder: create"), pull=3)
    b = Checks(sha=SHA, ref="r", plan=_plan("  + coder: create"), pull=3)
    c = Checks(sha=SHA, ref="r", plan=_plan("  + reviewer: create"), pull=3)
    assert a.report_id == b.report_id != c.report_id
    assert outbox_items(a, "http://d") == outbox_items(b, "http://d")
    assert [k for k, _ in outbox_items(a, "http://d")] == [
        f"status:{SHA}:hive/validate",
        f"status:{SHA}:hive/plan",
        "comment:3",
    ]


def test_the_report_page_escapes_everything() -> None:
    page = report_page(
        {
            "sha": SHA,
            "ref": "refs/heads/<script>alert(1)</script>",
            "problems": [{"text": "agents/<b>.json: $: bad"}],
            "plan_id": None,
            "plan": [],
            "no_plan": "hive/validate failed",
        }
    )
    assert "<script>" not in page and "&lt;script&gt;" in page and "&lt;b&gt;" in page


def test_hive_apply_is_pending_then_settles_on_the_touched_agents() -> None:
    url = "http://dash/#swarm"
    pending = apply_status(SHA, ("coder", "reviewer"), ("coder",), {}, url)
    assert (pending["state"], pending["description"]) == (
        "pending",
        "applying: 1 of 2 ready; waiting for reviewer",
    )
    failed = apply_status(SHA, ("coder", "reviewer"), ("coder",), {"reviewer": "exited with code 1"}, url)
    assert (failed["state"], failed["description"]) == ("failure", "not ready: reviewer: exited with code 1")
    done = apply_status(SHA, ("coder",), ("coder",), {}, url)
    assert (done["state"], done["context"]) == ("success", "hive/apply")
    assert apply_status(SHA, (), (), {}, url)["description"] == "applied: touches no agent"
    assert is_final(done) and is_final(failed) and not is_final(pending) and not is_final(None)
