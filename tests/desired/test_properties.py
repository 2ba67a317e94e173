"""Property tests: valid states round-trip through files and the repo; invalid ones always say where."""

from __future__ import annotations

import json
import string
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desired.bootstrap import init_meta_repo
from desired.files import dump_files, load_files, read_dir, write_dir
from desired.repo import Author
from desired.schema import AgentSpec, DesiredState, McpServer, RunState, SwarmSettings
from hive_kit.errors import DesiredStateError
from hive_kit.names import RESERVED_NAMES, Role

ALNUM = string.ascii_lowercase + string.digits
names = st.builds(
    lambda head, tail: head + tail,
    st.sampled_from(string.ascii_lowercase),
    st.text(ALNUM, max_size=10),
).filter(lambda n: n not in RESERVED_NAMES and n != "manager")
models = st.sampled_from(["sonnet", "opus", "haiku", "claude-sonnet-4-5", "claude-opus-4-1[1m]"])
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
servers = st.dictionaries(
    st.text(string.ascii_letters + string.digits + "-", min_size=1, max_size=8).filter(
        lambda k: k[0] != "-" and k.lower() != "hyperhive"
    ),
    st.builds(
        McpServer,
        command=st.text(ALNUM + "/-", min_size=1, max_size=20),
        args=st.lists(text, max_size=3).map(tuple),
        env=st.dictionaries(st.text(ALNUM, min_size=1, max_size=5), text, max_size=2),
    ),
    max_size=2,
)


@st.composite
def states(draw: st.DrawFn) -> DesiredState:
    agent_names = draw(st.lists(names, min_size=1, max_size=6, unique=True))
    manager = draw(st.sampled_from(agent_names))
    pool = [*agent_names, "manager", "operator", "*"]
    agents = {}
    for name in agent_names:
        agents[name] = AgentSpec(
            name=name,
            role=Role.MANAGER if name == manager else Role.AGENT,
            model=draw(st.none() | models),
            state=draw(st.sampled_from(list(RunState))),
            description=draw(text),
            allowed_recipients=tuple(draw(st.lists(st.sampled_from(pool), unique=True, max_size=3))),
            extra_mcp_servers=draw(servers),
            suspended=draw(st.booleans()),
        )
    nix = {
        n: draw(text) + "\n" for n in draw(st.lists(st.sampled_from(agent_names), unique=True, max_size=2))
    }
    settings_ = SwarmSettings(
        operator_pronouns=draw(st.sampled_from(["she/her", "he/him", "they/them"])),
        default_model=draw(models),
        allow_destroy_all=draw(st.booleans()),
    )
    return DesiredState(
        settings=settings_, agents=dict(sorted(agents.items())), agent_nix=dict(sorted(nix.items()))
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(states())
def test_export_import_round_trip_is_lossless(state: DesiredState) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "export"
        write_dir(root, dump_files(state))
        assert load_files(read_dir(root)) == state
        repo = init_meta_repo(Path(tmp) / "meta.git")[0]
        repo.replace(read_dir(root), author=Author("t", "t@t"), message="import")
        assert repo.load().state.model_copy(update={"extra_files": {}}) == state


@st.composite
def broken(draw: st.DrawFn) -> tuple[dict[str, bytes], str, str]:
    """A valid tree with one defect; returns (files, file that must be named, path prefix)."""
    state = draw(states())
    files = dump_files(state)
    victim = draw(st.sampled_from(sorted(state.agents)))
    vfile = f"agents/{victim}.json"
    data = json.loads(files[vfile])
    defect = draw(st.sampled_from(["json", "unknown", "second_manager", "dangling", "long_name", "type"]))
    if defect == "json":
        files[vfile] = files[vfile][: draw(st.integers(0, len(files[vfile]) - 2))]
        return files, vfile, "$"
    if defect == "unknown":
        data[draw(st.sampled_from(["modle", "recipients", "x"]))] = 1
        files[vfile] = json.dumps(data).encode()
        return files, vfile, "$."
    if defect == "type":
        data["suspended"] = draw(st.sampled_from(["yes", 1, None, [True]]))
        files[vfile] = json.dumps(data).encode()
        return files, vfile, "$.suspended"
    if defect == "dangling":
        data["allowed_recipients"] = ["zz-ghost-zz"]
        files[vfile] = json.dumps(data).encode()
        return files, vfile, "$.allowed_recipients[0]"
    if defect == "long_name":
        long = victim + "x" * (12 - len(victim))
        data["name"] = long
        files.pop(vfile)
        files[f"agents/{long}.json"] = json.dumps(data).encode()
        return files, f"agents/{long}.json", "$"
    manager = state.manager()
    assert manager is not None
    other = "zz" + manager.name[:8]
    files[f"agents/{other}.json"] = json.dumps({"name": other, "role": "manager"}).encode()
    return files, f"agents/{other}.json" if other > manager.name else f"agents/{manager.name}.json", "$.role"


@settings(max_examples=120, deadline=None)
@given(broken())
def test_invalid_input_always_names_file_and_path(case: tuple[dict[str, bytes], str, str]) -> None:
    files, file, path = case
    try:
        load_files(files)
    except DesiredStateError as exc:
        assert any(p.file == file and p.path.startswith(path) for p in exc.problems), exc.problems
        assert all(p.path.startswith("$") and p.file for p in exc.problems)
    else:
        raise AssertionError(f"accepted a broken tree (expected a problem in {file} at {path})")
