"""`python -m hive_web`: the dashboard alone over a state dir (no daemon).

It opens the host store for its event log; events published by a running
`hive serve` reach it only on its next start. Without a host core there are
no questions, messages, reminders, plan, restart or purge (503 with the
reason), and no live ``desired`` hints (nothing watches the meta repo). It sends the
Forgejo outbox only while no `hive serve` does (``hive_core.forge.claim``).

For looking at the UI and for the bench; `hive serve` is how it normally runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from pathlib import Path

from hive_core.events import EventLog
from hive_core.logins import LoginCodes
from hive_core.stores.schema import open_core_db
from hive_kit.paths import StateLayout
from hive_web.dashboard import base_url, bound_port, create_app, make_guard, start
from hive_web.deps import Deps
from hive_web.keys import WebConfig


async def _main(state_dir: Path | None, host: str, port: int) -> None:
    layout = StateLayout.resolve(state_dir)
    config = WebConfig(host=host, port=port)
    guard, _ = make_guard(layout, config)
    conn = open_core_db(layout.db)
    logins = LoginCodes()
    app = create_app(Deps(layout=layout, feed=EventLog(conn), guard=guard, config=config, logins=logins))
    runner = await start(app, config)
    logins.serving(base_url(host, bound_port(runner)))
    print(f"dashboard: log in with {logins.issue().url} (once, 5 minutes), or the token in web-token")
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m hive_web", description=__doc__)
    parser.add_argument("--state-dir", type=Path, default=None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(args.state_dir, args.host, args.port))


if __name__ == "__main__":
    main()
