"""Agent uids across swarms: two state dirs on one host never hand out the same uid.

Real sqlite stores, a real claims directory and, for the race, real processes
taking the real ``flock``. The host accounts check is replaced by "no account"
(``taken``) so the test does not depend on this machine's /etc/passwd.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hive_core.identities import HostClaims, Identities, UidRange
from hive_core.stores.schema import open_core_db
from hive_kit.errors import PermanentError

RANGE = UidRange(61000, 61009)


def swarm(root: Path, claims_dir: Path) -> Identities:
    root.mkdir(parents=True, exist_ok=True)
    return Identities(
        open_core_db(root / "hive.sqlite"),
        RANGE,
        taken=lambda _uid: False,
        claims=HostClaims(claims_dir, root),
    )


def test_two_swarms_on_one_host_get_different_uids(tmp_path: Path) -> None:
    claims = tmp_path / "claims"
    a, b = swarm(tmp_path / "a", claims), swarm(tmp_path / "b", claims)
    try:
        ours = {a.for_agent("manager").uid, a.for_agent("coder").uid}
        theirs = {b.for_agent("manager").uid, b.for_agent("coder").uid}
        assert ours == {61000, 61001} and theirs == {61002, 61003}
        holder = json.loads((claims / "61002").read_text())
        assert holder == {"agent": "manager", "state_dir": str((tmp_path / "b").resolve())}
        assert a.for_agent("coder").uid == 61001, "sticky, and still ours"
    finally:
        a.close()
        b.close()


def test_a_removed_swarms_claims_are_stale_and_reused(tmp_path: Path) -> None:
    claims = tmp_path / "claims"
    gone = swarm(tmp_path / "gone", claims)
    assert gone.for_agent("manager").uid == 61000
    gone.close()
    shutil.rmtree(tmp_path / "gone")
    fresh = swarm(tmp_path / "fresh", claims)
    try:
        assert fresh.for_agent("manager").uid == 61000
    finally:
        fresh.close()


def test_a_known_uid_another_swarm_claims_is_replaced(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A state dir copied from another swarm (or allocated before claims existed) brings its
    table along: the agent gets a uid no other live swarm holds, and the log says why."""
    claims = tmp_path / "claims"
    a = swarm(tmp_path / "a", claims)
    assert a.for_agent("manager").uid == 61000
    shutil.copytree(tmp_path / "a", tmp_path / "copy")
    copy = swarm(tmp_path / "copy", claims)
    try:
        with caplog.at_level(logging.WARNING):
            assert copy.for_agent("manager").uid == 61001
        assert (
            "also claimed by the swarm at" in caplog.text and str((tmp_path / "a").resolve()) in caplog.text
        )
        assert a.for_agent("manager").uid == 61000, "the first swarm keeps its uid"
    finally:
        a.close()
        copy.close()


def test_release_frees_only_our_own_claim(tmp_path: Path) -> None:
    claims = tmp_path / "claims"
    a, b = swarm(tmp_path / "a", claims), swarm(tmp_path / "b", claims)
    try:
        a.for_agent("temp")
        b.for_agent("other")
        assert a.release("temp") and not (claims / "61000").exists()
        assert b.for_agent("again").uid == 61000, "the freed uid goes back to the host's pool"
        assert not a.release("nobody")
        assert (claims / "61001").exists()
    finally:
        a.close()
        b.close()


def test_full_range_names_the_other_swarms(tmp_path: Path) -> None:
    claims = tmp_path / "claims"
    a, b = swarm(tmp_path / "a", claims), swarm(tmp_path / "b", claims)
    try:
        for i in range(10):
            a.for_agent(f"agent{i}")
        with pytest.raises(PermanentError, match=r"other swarms claim more in .*claims.*--agent-uids"):
            b.for_agent("late")
    finally:
        a.close()
        b.close()


def test_an_unusable_claims_dir_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "claims").write_text("not a directory")
    a = swarm(tmp_path / "a", tmp_path / "claims")
    try:
        with pytest.raises(PermanentError, match=r"cannot open the host's uid claims in .*HIVE_UID_REGISTRY"):
            a.for_agent("manager")
        assert a.known() == {}, "nothing recorded half-way"
    finally:
        a.close()


def test_two_daemons_allocating_at_once_never_share_a_uid(tmp_path: Path) -> None:
    """Two real processes, each its own state dir, allocate eight agents at the same moment."""
    script = textwrap.dedent(
        """
        import sys, time
        from pathlib import Path
        from hive_core.identities import HostClaims, Identities, UidRange
        from hive_core.stores.schema import open_core_db
        root, claims, start = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])
        root.mkdir(parents=True, exist_ok=True)
        ids = Identities(open_core_db(root / "hive.sqlite"), UidRange(61000, 61099),
                         taken=lambda _u: False, claims=HostClaims(claims, root))
        while time.time() < start:
            time.sleep(0.001)
        print(" ".join(str(ids.for_agent(f"a{i}").uid) for i in range(8)))
        """
    )
    import time

    start = time.time() + 1.5
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path / name), str(tmp_path / "claims"), str(start)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        for name in ("one", "two")
    ]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    one, two = ({int(u) for u in out.split()} for out in outs)
    assert len(one) == len(two) == 8 and not one & two, (one, two)
