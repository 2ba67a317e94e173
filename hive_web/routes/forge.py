"""The forge's pages and reads on the dashboard: each proposal's pull request, and the check reports.

Ordinary dashboard routes, behind its login like every other (a status's
``target_url`` opens a report in a reviewer's logged-in browser); the
webhook Forgejo calls is ``hive_web.routes.hooks``.
"""

from __future__ import annotations

import re

from aiohttp import web

from desired import proposals
from desired.repo import MetaRepo
from hive_kit.errors import NotFoundError
from hive_web.forge_checks import report_page
from hive_web.forge_pulls import pulls_json
from hive_web.keys import FORGE, META

routes = web.RouteTableDef()


@routes.get("/api/forge/pulls")
async def forge_pulls(request: web.Request) -> web.Response:
    """Each proposal's pull request and checks, for the dashboard's proposals view (a read)."""

    def commits(repo: MetaRepo) -> dict[int, tuple[str, str]]:
        return {
            int(p.id): (p.commit, p.resolution.commit if p.resolution else "")
            for p in proposals.list_all(repo)
        }

    found = await request.app[META].run(commits)
    return web.json_response({"pulls": pulls_json(request.app[FORGE].store, found)})


REPORT_ID = re.compile(r"^(p-[0-9a-f]{12}|v-[0-9a-f]{16})$")


@routes.get("/forge/reports/{report}")
async def forge_report(request: web.Request) -> web.Response:
    """What a status's target_url opens: every problem of that head, or exactly that plan."""
    rid = request.match_info["report"]
    found = request.app[FORGE].store.report(rid) if REPORT_ID.match(rid) else None
    if found is None:
        raise NotFoundError(
            f"no Forgejo check report {rid[:40]!r} here; it is made when Forgejo sends a push"
        )
    if "json" in request.headers.get("Accept", ""):
        return web.json_response(found)
    return web.Response(text=report_page(found), content_type="text/html")
