"""The namespace in desired state (hive.json ``kubernetes_namespace``), HIVE_KUBE_NAMESPACE over it.

Pure checks of the validation and the precedence over a real meta repo, then `hive` as an
operator runs it: a bad namespace in an imported hive.json is refused in a line or two naming the
field and the fix, and `hive reconcile --dry-run --runtime kubernetes` looks in hive.json's
namespace against a real apiserver (``k8s_api``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from desired.bootstrap import init_meta_repo
from desired.files import parse_settings
from desired.repo import Author, MetaRepo
from hive_kit.errors import UserError
from hive_kit.paths import StateLayout
from reconciler.runtime.kubernetes import settings_from_env
from tests.k8s.test_cli import create_namespace, read_statefulsets

AUTHOR = Author("Test Operator", "operator@example.test")


@pytest.mark.parametrize("bad", ["Hyperhive", "hive_ns", "-hive", "hive-", "x" * 64, ""])
def test_a_namespace_that_is_no_dns_label_is_a_problem_naming_the_field_and_the_fix(bad: str) -> None:
    settings, problems = parse_settings(json.dumps({"kubernetes_namespace": bad}).encode())
    assert settings is None
    (problem,) = problems
    assert problem.path == "$.kubernetes_namespace"
    assert "63 lowercase letters, digits" in problem.fix


def test_hive_json_names_the_namespace_and_the_environment_overrides_it(tmp_path: Path) -> None:
    layout = StateLayout(tmp_path / "hive")
    assert settings_from_env({}, layout).namespace == "hyperhive"  # no meta repo yet
    init_meta_repo(layout.meta)
    assert settings_from_env({}, layout).namespace == "hyperhive"  # hive.json without the field
    MetaRepo(layout.meta).commit(
        lambda s: s.model_copy(
            update={"settings": s.settings.model_copy(update={"kubernetes_namespace": "team-a"})}
        ),
        author=AUTHOR,
        message="agents in team-a",
    )
    assert settings_from_env({}, layout).namespace == "team-a"
    assert settings_from_env({"HIVE_KUBE_NAMESPACE": "team-b"}, layout).namespace == "team-b"
    with pytest.raises(UserError, match=r"HIVE_KUBE_NAMESPACE: 'Team_B' is not a DNS-1123 label.*lowercase"):
        settings_from_env({"HIVE_KUBE_NAMESPACE": "Team_B"}, layout)


def export_with(hive, tmp_path: Path, **settings: object) -> Path:  # type: ignore[no-untyped-def]
    out = tmp_path / "desired"
    assert hive("desired", "export", str(out)).returncode == 0
    data = json.loads((out / "hive.json").read_text())
    (out / "hive.json").write_text(json.dumps({**data, **settings}))
    return out


def test_a_bad_namespace_in_hive_json_is_refused_in_a_line_or_two(hive, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert hive("init").returncode == 0
    done = hive("desired", "import", str(export_with(hive, tmp_path, kubernetes_namespace="Team_A")))
    assert done.returncode != 0
    assert "kubernetes_namespace" in done.stderr and "lowercase letters" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) <= 2, done.stderr


def test_dry_run_looks_in_hive_json_s_namespace(  # type: ignore[no-untyped-def]
    hive, tmp_path: Path, k8s_api: dict[str, str], k8s_namespace: str
) -> None:
    kubeconfig = k8s_api["KUBECONFIG"]
    create_namespace(kubeconfig, k8s_namespace)
    other = f"{k8s_namespace}-other"
    create_namespace(kubeconfig, other)
    assert hive("init").returncode == 0
    assert hive("agent", "add", "alpha").returncode == 0
    assert (
        hive(
            "desired", "import", str(export_with(hive, tmp_path, kubernetes_namespace=k8s_namespace))
        ).returncode
        == 0
    )
    kube = {"KUBECONFIG": kubeconfig}  # no HIVE_KUBE_NAMESPACE: hive.json's

    hive("reconcile", "--runtime", "kubernetes", "--health-timeout", "1", env=kube, timeout=180)
    assert sorted(read_statefulsets(kubeconfig, k8s_namespace)) == ["hive-alpha", "hive-manager"]
    clean = hive("reconcile", "--dry-run", "--runtime", "kubernetes", env=kube)
    assert clean.returncode == 0, clean.stdout + clean.stderr  # it sees them there

    elsewhere = hive(
        "reconcile", "--dry-run", "--runtime", "kubernetes", env={**kube, "HIVE_KUBE_NAMESPACE": other}
    )
    assert elsewhere.returncode == 2  # the override: an empty namespace, everything to create
    assert elsewhere.stdout.strip().splitlines()[-1] == "Plan: 2 to create, 0 to change, 0 to destroy."


def test_the_manager_may_not_move_the_swarm_to_another_namespace() -> None:
    """An agent with a shell proposing a commit that edits hive.json's namespace is refused
    (hive_core.ops.committing; the whole propose_commit round trip is tests/core's)."""
    from desired.bundles import Incoming
    from desired.schema import DesiredState
    from hive_core.ops.committing import self_commit_refusal

    before = DesiredState()
    after = before.model_copy(
        update={"settings": before.settings.model_copy(update={"kubernetes_namespace": "kube-system"})}
    )
    why = self_commit_refusal("manager", Incoming("c", "b", "m", "move", {}, before, after))
    assert why is not None and "`kubernetes_namespace` is the operator's guard" in why
