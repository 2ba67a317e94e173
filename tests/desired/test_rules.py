"""Every rule of desired state refuses bad input with the file, the JSON path and a fix."""

from __future__ import annotations

import pytest

from desired.files import load_files
from hive_kit.errors import DesiredStateError
from tests.desired.helpers import swarm


def problems_of(files: dict[str, bytes]) -> list[tuple[str, str, str, str]]:
    with pytest.raises(DesiredStateError) as info:
        load_files(files)
    return [(p.file, p.path, p.message, p.fix) for p in info.value.problems]


def test_a_valid_swarm_loads_with_defaults_resolved() -> None:
    state = load_files(swarm(("boss", {}), ("coder", {"model": "opus"}), settings={"default_model": "haiku"}))
    assert state.manager() is not None and state.manager().name == "boss"
    assert state.effective_model("coder") == "opus"
    assert state.effective_model("boss") == "haiku"
    assert state.resolve_recipient("manager") == "boss"


def test_unknown_field_names_file_path_and_suggests_the_right_one() -> None:
    [(file, path, message, fix)] = problems_of(swarm(("manager", {}), ("coder", {"modle": "opus"})))
    assert (file, path) == ("agents/coder.json", "$.modle")
    assert "did you mean 'model'" in message
    assert "remove it" in fix


def test_unknown_nested_field_in_mcp_server() -> None:
    servers = {"matrix": {"command": "mx", "argz": []}}
    [(file, path, message, _)] = problems_of(
        swarm(("manager", {}), ("coder", {"extra_mcp_servers": servers}))
    )
    assert (file, path) == ("agents/coder.json", "$.extra_mcp_servers.matrix.argz")
    assert "did you mean 'args'" in message


@pytest.mark.parametrize(
    "name", ["averyverylongname", "Coder", "9lives", "a_b", "end-", "operator", "system", "hyperhive"]
)
def test_bad_names_are_refused_with_the_rule(name: str) -> None:
    found = problems_of(swarm(("manager", {}), (name, {})))
    assert found[0][0] == f"agents/{name}.json"
    assert "lowercase" in found[0][3] or "reserved" in found[0][2]


def test_eleven_characters_is_the_limit() -> None:
    load_files(swarm(("manager", {}), ("abcdefghijk", {})))
    found = problems_of(swarm(("manager", {}), ("abcdefghijkl", {})))
    assert "11" in found[0][2]


def test_name_must_match_file() -> None:
    files = swarm(("manager", {}))
    files["agents/coder.json"] = b'{"name": "other"}'
    [(file, path, _message, fix)] = problems_of(files)
    assert (file, path) == ("agents/coder.json", "$.name")
    assert "agents/other.json" in fix


def test_exactly_one_manager() -> None:
    none = problems_of(swarm(("a", {"role": "agent"}), ("b", {})))
    assert none[0][2].startswith("no agent has role 'manager'")
    two = problems_of(swarm(("a", {}), ("b", {"role": "manager"})))
    assert two == [
        (
            "agents/b.json",
            "$.role",
            "a second manager: agents/a.json is already the manager",
            'set "role": "agent" in all but one of them',
        )
    ]


def test_an_agent_named_manager_must_be_the_manager() -> None:
    found = problems_of(swarm(("boss", {}), ("manager", {"role": "agent"})))
    assert found[0][:2] == ("agents/manager.json", "$.role")


def test_dangling_recipient_names_the_index() -> None:
    found = problems_of(swarm(("manager", {}), ("coder", {"allowed_recipients": ["manager", "ghost"]})))
    assert found == [
        (
            "agents/coder.json",
            "$.allowed_recipients[1]",
            "'ghost' is not an agent of this swarm",
            "use an agent name (coder, manager), 'manager', 'operator' or '*'; or add agents/ghost.json",
        )
    ]


def test_special_recipients_are_allowed() -> None:
    load_files(swarm(("boss", {}), ("coder", {"allowed_recipients": ["manager", "operator", "*", "boss"]})))


def test_mcp_server_keyed_hyperhive_is_refused() -> None:
    servers = {"HyperHive": {"command": "x"}}
    found = problems_of(swarm(("manager", {}), ("coder", {"extra_mcp_servers": servers})))
    assert found[0][:2] == ("agents/coder.json", "$.extra_mcp_servers.HyperHive")
    assert "hyperhive" in found[0][2]


def test_bad_json_and_wrong_types_and_duplicate_keys() -> None:
    files = swarm(("manager", {}))
    files["agents/a.json"] = b'{"name": "a",'
    files["agents/b.json"] = b'{"name": "b", "suspended": "yes"}'
    files["agents/c.json"] = b'{"name": "c", "model": "x", "model": "y"}'
    found = {f: (p, m) for f, p, m, _ in problems_of(files)}
    assert "not valid JSON: line 1" in found["agents/a.json"][1]
    assert found["agents/b.json"][0] == "$.suspended"
    assert "appears twice" in found["agents/c.json"][1]


def test_unexpected_files_and_orphan_agent_nix() -> None:
    files = swarm(("manager", {}))
    files["notes.txt"] = b"hi"
    files["agents/ghost/agent.nix"] = b"{ }"
    found = {(f, m) for f, _, m, _ in problems_of(files)}
    assert ("notes.txt", "unexpected file") in found
    assert any(f == "agents/ghost/agent.nix" and "belongs to no agent" in m for f, m in found)


def test_every_problem_is_reported_at_once() -> None:
    files = swarm(("manager", {"allowed_recipients": ["ghost"]}), ("bob", {"x": 1}))
    paths = {(f, p) for f, p, _, _ in problems_of(files)}
    assert paths == {("agents/bob.json", "$.x"), ("agents/manager.json", "$.allowed_recipients[0]")}


def test_missing_hive_json() -> None:
    files = swarm(("manager", {}))
    del files["hive.json"]
    assert problems_of(files)[0][:3] == ("hive.json", "$", "missing")


def test_max_agents_refuses_a_swarm_over_the_cap_saying_by_how_much() -> None:
    agents = [("boss", {})] + [(f"w{i}", {}) for i in range(4)]
    assert len(load_files(swarm(*agents, settings={"max_agents": 5})).agents) == 5
    [(file, path, message, fix)] = problems_of(swarm(*agents, settings={"max_agents": 3}))
    assert (file, path) == ("hive.json", "$.max_agents")
    assert message == "5 agents; hive.json max_agents is 3"
    assert fix == "remove 2 agents or raise max_agents"


def test_caps_must_be_positive() -> None:
    found = problems_of(swarm(("boss", {}), settings={"max_agents": 0, "max_concurrent_turns": 0}))
    assert {path for _, path, _, _ in found} == {"$.max_agents", "$.max_concurrent_turns"}
