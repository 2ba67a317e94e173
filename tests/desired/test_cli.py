"""The `hive` CLI as an operator uses it: real processes, real meta repo, exit codes and messages."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.conftest import HiveRunner


@pytest.fixture
def initd(hive: HiveRunner) -> HiveRunner:
    assert hive("init").returncode == 0
    return hive


def agents(hive: HiveRunner) -> dict[str, dict]:
    return {a["name"]: a for a in json.loads(hive("agent", "list", "--json").stdout)["agents"]}


def test_init_prints_where_things_are(hive: HiveRunner, state_dir: Path) -> None:
    out = hive("init")
    assert out.returncode == 0
    assert str(state_dir) in out.stdout and "meta.git" in out.stdout and "manager" in out.stdout


def test_add_set_show_remove(initd: HiveRunner) -> None:
    assert (
        initd(
            "agent",
            "add",
            "coder",
            "--model",
            "opus",
            "--recipients",
            "manager,operator",
            "--description",
            "writes code",
        ).returncode
        == 0
    )
    coder = agents(initd)["coder"]
    assert coder["model"] == "opus" and coder["allowed_recipients"] == ["manager", "operator"]
    assert initd("agent", "set", "coder", "model", "default").returncode == 0
    assert agents(initd)["coder"]["effective_model"] == "sonnet"
    assert initd("agent", "set", "coder", "suspended", "true").returncode == 0
    assert (
        initd("agent", "set", "coder", "extra_mcp_servers", '{"gh": {"command": "gh-mcp"}}').returncode == 0
    )
    shown = json.loads(initd("agent", "show", "coder", "--json").stdout)
    assert shown["suspended"] is True and shown["extra_mcp_servers"]["gh"]["allowed_tools"] == ["*"]
    table = initd("agent", "list")
    assert "coder" in table.stdout and "suspended" in table.stdout
    assert initd("agent", "remove", "coder").returncode == 0
    assert "coder" not in agents(initd)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["agent", "add", "Coder"], "lowercase"),
        (["agent", "add", "averyverylongname"], "at most 11"),
        (["agent", "add", "operator"], "reserved"),
        (["agent", "add", "manager"], "already exists"),
        (["agent", "add", "x", "--recipients", "ghost"], "'ghost' is not an agent"),
        (["agent", "add", "x", "--state", "up"], "use one of 'running' or 'stopped'"),
        (["agent", "set", "manager", "suspended", "yes"], "use true or false"),
        (["agent", "set", "manager", "colour", "red"], "settable fields"),
        (["agent", "set", "nobody", "model", "opus"], "no agent named 'nobody'"),
        (["agent", "remove", "manager"], "is the manager"),
        (["agent", "show", "nobody"], "no agent named 'nobody'"),
        (["agent", "frobnicate"], "no such command 'frobnicate'"),
        (["agent", "add"], "missing argument 'name'"),
        (["agent", "list", "--bogus"], "no such option: --bogus"),
        (["approve", "first"], "invalid value for 'ID'"),
        (["approve", "42"], "no proposal 42"),
    ],
)
def test_bad_input_exits_1_with_a_message_and_changes_nothing(
    initd: HiveRunner, args: list[str], needle: str
) -> None:
    before = initd("history", "--json").stdout
    out = initd(*args)
    assert out.returncode == 1, (out.stdout, out.stderr)
    assert needle in out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    assert initd("history", "--json").stdout == before


def test_missing_state_dir_says_run_init(hive: HiveRunner) -> None:
    out = hive("agent", "list")
    assert out.returncode == 1 and "hive init" in out.stderr
    assert "Traceback" not in out.stdout + out.stderr


def test_export_import_round_trip_and_validate(initd: HiveRunner, tmp_path: Path) -> None:
    initd("agent", "add", "coder", "--model", "opus")
    out_dir = tmp_path / "desired"
    assert initd("desired", "export", str(out_dir)).returncode == 0
    assert json.loads((out_dir / "agents" / "coder.json").read_text())["model"] == "opus"
    assert initd("validate", str(out_dir)).returncode == 0
    spec = json.loads((out_dir / "agents" / "coder.json").read_text())
    spec["model"] = "haiku"
    (out_dir / "agents" / "coder.json").write_text(json.dumps(spec))
    (out_dir / "agents" / "tester.json").write_text(json.dumps({"name": "tester"}))
    assert initd("desired", "import", str(out_dir)).returncode == 0
    now = agents(initd)
    assert now["coder"]["model"] == "haiku" and "tester" in now
    (out_dir / "agents" / "tester.json").write_text(json.dumps({"name": "tester", "role": "manager"}))
    bad = initd("validate", str(out_dir))
    assert bad.returncode == 1 and "a second manager" in bad.stderr
    refused = initd("desired", "import", str(out_dir))
    assert refused.returncode == 1 and agents(initd)["tester"]["role"] == "agent"


def test_validate_single_file_against_main(initd: HiveRunner, tmp_path: Path) -> None:
    good = tmp_path / "coder.json"
    good.write_text(json.dumps({"name": "coder", "allowed_recipients": ["manager"]}))
    assert initd("validate", str(good)).returncode == 0
    good.write_text(json.dumps({"name": "coder", "allowed_recipients": ["ghost"]}))
    out = initd("validate", str(good), "--json")
    assert out.returncode == 1
    assert json.loads(out.stdout)["problems"][0]["path"] == "$.allowed_recipients[0]"


def write_editor(tmp_path: Path, script: str) -> str:
    path = tmp_path / "fake-editor.py"
    path.write_text(script)
    return f"{sys.executable} {path}"


def test_edit_reopens_with_the_error_until_valid(initd: HiveRunner, tmp_path: Path) -> None:
    """$EDITOR is a scripted editor: first save is invalid, second (after seeing the error) is valid."""
    log = tmp_path / "seen.txt"
    editor = write_editor(
        tmp_path,
        f"""
import json, sys, pathlib
p = pathlib.Path(sys.argv[1]); text = p.read_text()
log = pathlib.Path({str(log)!r}); n = len(log.read_text().split("\\n---\\n")) if log.exists() else 0
log.write_text((log.read_text() + "\\n---\\n" if log.exists() else "") + text)
body = "\\n".join(l for l in text.splitlines() if not l.startswith("//"))
doc = json.loads(body)
doc["agents"]["manager"]["model"] = "opus"
if n == 0:
    doc["agents"]["manager"]["modle"] = "x"
else:
    doc["agents"]["manager"].pop("modle")
p.write_text(json.dumps(doc))
""",
    )
    out = initd("desired", "edit", env={"EDITOR": editor})
    assert out.returncode == 0, out.stderr
    seen = log.read_text().split("\n---\n")
    assert len(seen) == 2
    assert "// " in seen[1] and "unknown field 'modle'" in seen[1]
    assert agents(initd)["manager"]["model"] == "opus"


def test_edit_saved_unchanged_after_an_error_gives_up(initd: HiveRunner, tmp_path: Path) -> None:
    """A scripted editor that never fixes the problem: hive stops re-opening and changes nothing."""
    editor = write_editor(
        tmp_path,
        """
import json, sys, pathlib
p = pathlib.Path(sys.argv[1])
doc = json.loads("\\n".join(l for l in p.read_text().splitlines() if not l.startswith("//")))
doc["agents"]["manager"]["modle"] = "x"
p.write_text(json.dumps(doc))
""",
    )
    before = initd("history", "--json").stdout
    out = initd("desired", "edit", env={"EDITOR": editor}, timeout=60)
    assert out.returncode == 1 and "saved unchanged after the error" in out.stderr
    assert initd("history", "--json").stdout == before


def test_edit_unchanged_is_a_no_op(initd: HiveRunner, tmp_path: Path) -> None:
    before = initd("history", "--json").stdout
    out = initd("desired", "edit", env={"EDITOR": "true"})
    assert out.returncode == 0 and "no changes" in out.stdout
    assert initd("history", "--json").stdout == before


def test_propose_file_pending_approve_deny_and_history(initd: HiveRunner, tmp_path: Path) -> None:
    change = tmp_path / "change.json"
    change.write_text(json.dumps({"ops": [{"op": "add_agent", "agent": {"name": "coder", "model": "opus"}}]}))
    out = initd("propose", "--file", str(change), "--author", "manager", "--description", "need a coder")
    assert out.returncode == 0, out.stderr
    pending = json.loads(initd("pending", "--json").stdout)
    assert pending[0]["description"] == "need a coder" and '"model": "opus"' in pending[0]["diff"]
    human = initd("pending")
    assert "need a coder" in human.stdout and "+" in human.stdout
    assert initd("approve", "1").returncode == 0
    assert agents(initd)["coder"]["model"] == "opus"
    assert initd("agent", "set", "coder", "model", "haiku", "--propose", "-m", "cheaper").returncode == 0
    assert agents(initd)["coder"]["model"] == "opus", "--propose does not touch main"
    assert initd("deny", "2", "--note", "keep opus").returncode == 0
    history = json.loads(initd("pending", "--all", "--json").stdout)
    assert [(p["id"], p["status"]) for p in history] == [(1, "approved"), (2, "denied")]
    assert history[1]["resolution"]["note"] == "keep opus"
    log = json.loads(initd("history", "coder", "--json").stdout)
    assert log[0]["author"] == "manager" and "coder" in log[0]["diff"]
    assert log[0]["approved"] == {"proposal": 1, "by": "Test Operator <operator@example.test>"}


def test_propose_file_errors_name_the_file(initd: HiveRunner, tmp_path: Path) -> None:
    change = tmp_path / "change.json"
    change.write_text(json.dumps({"ops": [{"op": "add_agent", "agnet": {}}]}))
    out = initd("propose", "--file", str(change), "--description", "x")
    assert out.returncode == 1 and f"{change}: $.ops[0]" in out.stderr


def test_schema_is_json_schema(hive: HiveRunner) -> None:
    out = hive("schema", state=False)
    schema = json.loads(out.stdout)
    assert set(schema["$defs"]) == {"SwarmSettings", "AgentSpec"}
    agent = json.loads(hive("schema", "agent", state=False).stdout)
    assert agent["additionalProperties"] is False and "allowed_recipients" in agent["properties"]


def test_every_write_answers_json_of_one_shape(initd: HiveRunner) -> None:
    added = json.loads(initd("agent", "add", "coder", "--json").stdout)
    assert added == {"changed": True, "revision": added["revision"], "summary": "add agent coder"}
    unchanged = json.loads(initd("agent", "set", "coder", "model", "default", "--json").stdout)
    assert (unchanged["changed"], unchanged["revision"]) == (False, None)
    proposed = initd("agent", "set", "coder", "model", "opus", "--propose", "-m", "faster", "--json")
    assert json.loads(proposed.stdout) == {
        "proposal": 1,
        "commit": json.loads(proposed.stdout)["commit"],
        "status": "pending",
        "summary": "faster",
    }
