"""The pyforgejo client against the Forgejo stand-in: what it sends, and how failures read.

The stand-in (``tests/seams/forgejo.py``) replaces a Forgejo server, which
cannot run here; the client, httpx and the HTTP exchange are real.
"""

from __future__ import annotations

import httpx
import pytest

from hive_core.forge.client import CommentGone, ForgeClient
from hive_core.forge.connection import Connection
from hive_core.forge.report import MARKER
from hive_kit.errors import PermanentError, TemporaryError
from tests.seams.forgejo import ForgejoStandIn


def _conn(forge: ForgejoStandIn) -> Connection:
    return Connection(url=forge.url, owner=forge.owner, repo=forge.name, dashboard_url="http://dash")


async def test_statuses_and_the_plan_comment_round_trip(forge: ForgejoStandIn) -> None:
    client = ForgeClient(_conn(forge), forge.token)
    try:
        assert await client.check() == "ops/swarm"
        main = forge.head("main")
        await client.set_status(main, "hive/validate", "success", "desired state is valid", "http://dash/r")
        assert forge.status_of(main, "hive/validate") is not None
        assert forge.status_of(main, "hive/validate")["status"] == "success"  # type: ignore[index]

        forge.commit("topic", "agents/a.json", "{}", "a")
        pr = forge.open_pull("topic", "add a")
        assert await client.find_comment(pr) is None
        cid = await client.create_comment(pr, MARKER + "\nfirst")
        assert await client.find_comment(pr) == cid
        await client.edit_comment(cid, MARKER + "\nsecond")
        assert [c["body"] for c in forge.comments_on(pr)] == [MARKER + "\nsecond"]
        with pytest.raises(CommentGone):
            await client.edit_comment(99999, "x")
    finally:
        await client.close()


async def test_the_stand_in_refuses_what_forgejo_refuses(forge: ForgejoStandIn) -> None:
    """Request bodies are checked against pyforgejo's own signature-derived models."""
    async with httpx.AsyncClient(base_url=f"{forge.url}/api/v1/repos/ops/swarm") as http:
        auth = {"Authorization": f"token {forge.token}"}
        main = forge.head("main")
        extra = await http.post(f"/statuses/{main}", json={"state": "success", "colour": "red"}, headers=auth)
        assert extra.status_code == 422 and "colour" in extra.json()["message"]
        state = await http.post(f"/statuses/{main}", json={"state": "green"}, headers=auth)
        assert state.status_code == 422 and "state" in state.json()["message"]
        nobody = await http.post(f"/statuses/{main}", json={"state": "success"})
        assert nobody.status_code == 401
        await http.get("/branches", headers=auth)
    assert forge.unexpected == ["GET /api/v1/repos/ops/swarm/branches"]
    forge.unexpected.clear()


async def test_failures_say_what_to_fix(forge: ForgejoStandIn) -> None:
    bad = ForgeClient(_conn(forge), "not-the-token")
    try:
        with pytest.raises(PermanentError, match="refused the token"):
            await bad.check()
    finally:
        await bad.close()
    wrong_repo = ForgeClient(_conn(forge).model_copy(update={"repo": "other"}), forge.token)
    try:
        with pytest.raises(PermanentError, match="not found"):
            await wrong_repo.check()
    finally:
        await wrong_repo.close()
    forge.stop()
    down = ForgeClient(_conn(forge), forge.token)
    try:
        with pytest.raises(TemporaryError, match="cannot reach Forgejo"):
            await down.check()
    finally:
        await down.close()
        forge.start()
