"""A ``kubernetes_namespace`` change under a running `hive serve` is said, not silently deferred.

Pure over a real meta repo (``NamespaceWatch``), then against the real apiserver (API only,
``k8s_api``): a real `hive serve --runtime kubernetes` places an agent, the operator commits
another namespace to hive.json, the daemon logs the note once, and `hive status --runtime
kubernetes` from another shell prints it.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest

from desired.bootstrap import init_meta_repo
from desired.repo import Author, MetaRepo
from hive_kit.paths import StateLayout
from reconciler.runtime.kubernetes_namespace import NamespaceWatch, moved_note, record_placed
from tests.k8s.test_cli import create_namespace, read_statefulsets
from tests.web.conftest import hive_serve_process

AUTHOR = Author("Test Operator", "operator@example.test")


def move_to(layout: StateLayout, namespace: str | None, message: str = "move") -> None:
    MetaRepo(layout.meta).commit(
        lambda s: s.model_copy(
            update={"settings": s.settings.model_copy(update={"kubernetes_namespace": namespace})}
        ),
        author=AUTHOR,
        message=message,
    )


def test_the_note_says_what_to_do_and_what_is_not_moved() -> None:
    assert moved_note("team-a", "team-a") == ""
    assert moved_note("team-a", "team-b") == (
        "hive.json's kubernetes_namespace is 'team-b', but hive serve places agents in 'team-a': "
        "restart hive serve to move to namespace team-b; agents in team-a are not moved "
        "(destroy them first, or move them yourself)"
    )


def test_a_move_under_the_running_runtime_is_noted_on_every_pass_and_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    layout = StateLayout(tmp_path / "hive")
    init_meta_repo(layout.meta)
    move_to(layout, "team-a")
    watch = NamespaceWatch(layout, "team-a", env={})  # the daemon's runtime, started in team-a
    assert watch.note() == ""
    move_to(layout, "team-b")
    notes = [watch.note() for _ in range(3)]
    assert notes == [moved_note("team-a", "team-b")] * 3
    move_to(layout, "team-b", "an unrelated commit: main moves, the namespace does not")
    assert watch.note() == moved_note("team-a", "team-b")
    warned = [r for r in caplog.records if "restart hive serve" in r.getMessage()]
    assert len(warned) == 1 and warned[0].levelno == logging.WARNING
    move_to(layout, "team-a")  # moved back: nothing to say
    assert watch.note() == ""
    move_to(layout, "team-c")  # a new move is told again
    assert watch.note() == moved_note("team-a", "team-c")
    assert len([r for r in caplog.records if "restart hive serve" in r.getMessage()]) == 2


def test_another_process_compares_with_where_hive_serve_places_agents(tmp_path: Path) -> None:
    layout = StateLayout(tmp_path / "hive")
    init_meta_repo(layout.meta)
    move_to(layout, "team-b")
    cli = NamespaceWatch(layout, "team-b", env={})  # `hive status` after the edit: it reads team-b
    assert cli.note() == ""  # no hive serve ever recorded one
    record_placed(layout, "team-a")
    assert cli.note() == moved_note("team-a", "team-b")
    pinned = NamespaceWatch(layout, "team-x", env={"HIVE_KUBE_NAMESPACE": "team-x"})
    assert pinned.note() == ""  # a host pinned by HIVE_KUBE_NAMESPACE is never told to move


def test_serve_keeps_its_namespace_and_says_so_when_hive_json_moves(
    hive: Any, state_dir: Path, k8s_api: dict[str, str], k8s_namespace: str
) -> None:
    kubeconfig = k8s_api["KUBECONFIG"]
    old, new = k8s_namespace, f"{k8s_namespace}-b"
    for ns in (old, new):
        create_namespace(kubeconfig, ns)
    kube = {"KUBECONFIG": kubeconfig, "HIVE_KUBE_NAMESPACE": ""}
    assert hive("init").returncode == 0
    layout = StateLayout(state_dir)
    move_to(layout, old)
    with hive_serve_process(layout, "--runtime", "kubernetes", "--no-web", **kube) as (proc, log):
        deadline = time.monotonic() + 120  # a bound on waiting, not a duration asserted
        while "hive-manager" not in read_statefulsets(kubeconfig, old):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        move_to(layout, new)
        note = moved_note(old, new)
        while note not in log.read_text():  # the meta watch wakes the loop; its pass says so
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        status = hive("status", "--runtime", "kubernetes", env=kube)
        assert status.returncode == 0, status.stderr
        assert status.stderr.count(note) <= 1  # the runtime's log line, once
        assert f"note: {note}" in " ".join(status.stdout.split())
        assert read_statefulsets(kubeconfig, new) == {}  # nothing was moved, nothing made there
        assert log.read_text().count(note) == 1  # once, however many passes ran meanwhile
