"""Seed files for agents in pods (pure): the ConfigMap and init container the driver renders, and the
copy routine that init container runs (``hive-harness seed``), against a real directory.

The API tier (the ConfigMap and the init container as the API server stores them, destroy
deleting them) is ``test_driver.py::test_seed_files_reach_the_pod_spec``. No test here starts a
pod: the node tier is opt-in, and the routine is the same code whichever process runs it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hive_kit.errors import PermanentError
from hive_kit.seeding import BUNDLE_FILE, MARKER, encode_bundle, place_from_file
from reconciler.model import ContainerState
from reconciler.runtime import kubernetes_objects as ko
from reconciler.runtime import kubernetes_seeds as ks
from reconciler.runtime.kubernetes import settings_from_env

S = ko.KubeSettings(namespace="swarm", api_key_secret="anthropic")
SEEDS = {
    "brief.md": b"# Brief\nParse the logs.\n",
    "notes/plan.md": "1. lire les journaux \u2013 \u00e9t\u00e9\n".encode(),
}


def launch() -> str:
    return json.dumps({"name": "alice", "role": "agent", "model": "m", "fingerprint": "f", "revision": "r"})


def pod_spec(s: ko.KubeSettings = S) -> dict[str, object]:
    return ks.with_seed_init(ko.stateful_set("alice", "agent", launch(), 1, s), s)["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def test_the_seed_config_map_holds_every_file_labelled_as_ours() -> None:
    cm = ks.seed_config_map("alice", SEEDS, "id1", S)
    assert cm["metadata"]["name"] == "hive-alice-seed" and cm["metadata"]["namespace"] == "swarm"
    assert ko.is_ours(cm) and cm["metadata"]["labels"][ko.AGENT] == "alice"
    bundle = json.loads(cm["data"][BUNDLE_FILE])
    assert bundle == {"id": "id1", "files": {rel: data.decode() for rel, data in SEEDS.items()}}


def test_seeds_over_the_config_map_limit_are_refused_naming_the_agent() -> None:
    big = {f"f{i}.md": b'"' * 60_000 for i in range(10)}  # quotes double in JSON: 1.2 MB
    with pytest.raises(
        PermanentError, match=r"agent alice: its seed files are \d+ bytes .*agents/alice/seed/"
    ):
        ks.seed_config_map("alice", big, "id1", S)


def test_the_init_container_runs_the_harness_seed_as_the_agent_without_the_key() -> None:
    spec = pod_spec()
    (init,) = spec["initContainers"]  # type: ignore[misc]
    (harness,) = spec["containers"]  # type: ignore[misc]
    assert init["command"] == [
        "hive-harness",
        "seed",
        "--bundle",
        "/etc/hyperhive-seed/seeds.json",
        "--state",
        "/state",
    ]
    assert init["image"] == harness["image"] and init["securityContext"] == harness["securityContext"]
    assert not any("valueFrom" in e for e in init["env"])  # no ANTHROPIC_API_KEY in the init container
    mounts = {m["mountPath"]: m for m in init["volumeMounts"]}
    assert set(mounts) == {"/state", "/etc/hyperhive-seed"} and mounts["/etc/hyperhive-seed"]["readOnly"]
    volume = next(v for v in spec["volumes"] if v["name"] == "seed")  # type: ignore[attr-defined]
    assert volume["configMap"] == {"name": "hive-alice-seed", "optional": True}


def test_the_pod_template_does_not_depend_on_the_seeds() -> None:
    """Seeds only at create: the template is the same with or without them, so nothing rolls."""
    assert pod_spec() == pod_spec()
    assert "seed" not in json.dumps(ko.stateful_set("alice", "agent", launch(), 1, S)["spec"]["template"])


def test_the_seed_command_follows_the_harness_command() -> None:
    venv = settings_from_env({"HIVE_KUBE_COMMAND": "/v/bin/python -m hive_harness serve --role {role}"})
    assert ks.seed_command(venv) == ["/v/bin/python", "-m", "hive_harness", "seed"]
    mounted = ko.KubeSettings(host_mounts=(("/opt/py", "/opt/py"),))
    init = pod_spec(mounted)["initContainers"][0]  # type: ignore[index]
    assert {m["mountPath"] for m in init["volumeMounts"]} >= {"/opt/py"}  # the host's Python, for tests
    own = settings_from_env({"HIVE_KUBE_SEED_COMMAND": "python3 /opt/seed.py"})
    assert ks.seed_command(own) == ["python3", "/opt/seed.py"]
    stand_in = ko.KubeSettings(command=("python3", "-c", "print(1)"))
    assert ks.seed_command(stand_in) is None and "initContainers" not in pod_spec(stand_in)


# ---- the copy routine, in a real directory -------------------------------------------------------


def bundle(tmp: Path, seed_id: str, files: dict[str, bytes] = SEEDS) -> Path:
    path = tmp / f"{seed_id}.json"
    path.write_text(encode_bundle(seed_id, files))
    return path


@pytest.fixture
def state(tmp_path: Path) -> Path:
    d = tmp_path / "state"
    d.mkdir()
    return d


def test_absent_files_are_written_private(tmp_path: Path, state: Path) -> None:
    line = place_from_file(bundle(tmp_path, "a1"), state)
    assert line == "seed: bundle a1: seed files: 2 placed"
    assert (state / "brief.md").read_bytes() == SEEDS["brief.md"]
    assert (state / "notes" / "plan.md").read_bytes() == SEEDS["notes/plan.md"]
    assert (state / "brief.md").stat().st_mode & 0o777 == 0o600
    assert (state / "notes").stat().st_mode & 0o777 == 0o700


def test_a_present_file_is_untouched(tmp_path: Path, state: Path) -> None:
    (state / "brief.md").write_text("the agent's own")
    line = place_from_file(bundle(tmp_path, "a1"), state)
    assert (state / "brief.md").read_text() == "the agent's own"
    assert "1 placed" in line and "1 kept as they were (brief.md)" in line


def test_a_planted_symlink_is_not_followed(tmp_path: Path, state: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (state / "brief.md").symlink_to(
        outside / "brief.md"
    )  # a dangling link: writing through it would create the target
    (state / "notes").symlink_to(outside)
    (state / MARKER).symlink_to(outside / "marker")
    line = place_from_file(bundle(tmp_path, "a1"), state)
    assert list(outside.iterdir()) == []  # nothing written through any link
    assert (state / "brief.md").is_symlink() and "kept as they were (brief.md)" in line
    assert "skipped: a parent is a link" in line
    assert not (state / MARKER).is_symlink() and (state / MARKER).read_text() == "a1"


def test_once_per_create_a_deleted_seed_stays_deleted(tmp_path: Path, state: Path) -> None:
    """The init container runs at every start of the pod; seeds are placed once per create."""
    place_from_file(bundle(tmp_path, "a1"), state)
    (state / "brief.md").unlink()
    assert "placed before" in place_from_file(bundle(tmp_path, "a1"), state)  # a restart
    assert not (state / "brief.md").exists()
    place_from_file(bundle(tmp_path, "b2"), state)  # a re-create over the kept volume fills the gap
    assert (state / "brief.md").read_bytes() == SEEDS["brief.md"]


def test_paths_that_would_leave_state_are_skipped(tmp_path: Path, state: Path) -> None:
    line = place_from_file(
        bundle(tmp_path, "a1", {"../escape.md": b"x", "/abs.md": b"y", "ok.md": b"z"}), state
    )
    assert not (tmp_path / "escape.md").exists() and not Path("/abs.md").exists()
    assert (state / "ok.md").read_bytes() == b"z" and "2 skipped" in line


def test_no_bundle_is_nothing_to_do(tmp_path: Path, state: Path) -> None:
    assert place_from_file(tmp_path / "absent.json", state) == "seed: no seed files for this agent"
    assert list(state.iterdir()) == []


def harness_seed(*args: str) -> subprocess.CompletedProcess[str]:
    """The console script the init container runs (this venv's, as the image's would be)."""
    script = Path(sys.executable).with_name("hive-harness")
    return subprocess.run(
        [str(script), "seed", *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_hive_harness_seed_places_and_says_so(tmp_path: Path, state: Path) -> None:
    done = harness_seed("--bundle", str(bundle(tmp_path, "c3")), "--state", str(state))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "seed: bundle c3: seed files: 2 placed"
    assert (state / "brief.md").exists()


def test_hive_harness_seed_on_a_broken_bundle_is_one_line(tmp_path: Path, state: Path) -> None:
    broken = tmp_path / BUNDLE_FILE
    broken.write_text("{not json")
    done = harness_seed("--bundle", str(broken), "--state", str(state))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) <= 2
    assert "cannot place" in done.stderr and "re-create the agent" in done.stderr
    assert os.listdir(state) == []


# ---- how a pod with the seed container reads ------------------------------------------------------


def init_pod(init: dict[str, object]) -> dict[str, object]:
    waiting = {
        "name": "harness",
        "ready": False,
        "restartCount": 0,
        "state": {"waiting": {"reason": "PodInitializing"}},
    }
    status = {"phase": "Pending", "initContainerStatuses": [{"name": "seed", "image": "img:1", **init}]}
    return {"metadata": {"name": "hive-alice-0"}, "status": {**status, "containerStatuses": [waiting]}}


STS = {"spec": {"replicas": 1}}


def test_a_failing_seed_container_is_said_with_where_to_look() -> None:
    crashing = {"restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 1}}}  # fmt: skip
    seen = ko.observe("alice", STS, init_pod(crashing))
    assert seen.state is ContainerState.STARTING  # the kubelet retries it: Kubernetes owns restarts
    assert seen.detail == (
        "pod hive-alice-0: init container seed exited with code 1, 3 restart(s); "
        "`kubectl logs hive-alice-0 -c seed`"
    )
    done = {
        "restartCount": 1,
        "state": {"terminated": {"exitCode": 0}},
        "lastState": {"terminated": {"exitCode": 1}},
    }
    assert ko.observe("alice", STS, init_pod(done)).detail == "pod hive-alice-0 pending"


def test_an_image_problem_shows_on_the_init_container_first() -> None:
    """The seed container runs first, so a missing image is its status; the harness's says PodInitializing."""
    seen = ko.observe("alice", STS, init_pod({"state": {"waiting": {"reason": "ErrImageNeverPull"}}}))
    assert seen.state is ContainerState.EXITED and seen.detail == "ErrImageNeverPull"
    assert "image img:1 is not on the node" in (seen.warning or "")
