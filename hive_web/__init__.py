"""The operator's dashboard (aiohttp, SSE): one page, one live stream, every agent's page.

Four tiers, each a subpackage; where a module sits says what it may do:

- ``views/``: pure. Data in (desired state, proposals, commit infos, recorded
  statuses, directory summaries) → HTML or JSON-able dicts out. No files, no
  git, no sqlite, no sockets, no clock; tested without a server.
- ``readers/``: the I/O that gathers what a view needs: the meta repo (on its
  one thread, ``hive_web.meta``), agents' state and build dirs, turn-stats
  sqlite, the reconciler's recorded status and dry-run plan
  (``reconciler.readonly``), the host core's reads run as the operator.
  Readers return data, never responses.
- ``routes/``: HTTP handlers. Parse the request, call a reader (or a writer:
  ``desired.edit.write``, ``desired.proposals``, a host-core op, the host
  core's ``ReconcilerControl``), call a view, respond. A few lines each.
- ``streams/``: Server-Sent Events: the dashboard's stream and its fan-out
  hub (with the ``desired`` hint the host core's meta watch feeds), and the
  relay of an agent page's stream from its harness (over its unix socket).

At the top: the app and how it is run (``dashboard``, ``component``,
``deps``), its state keys and config (``keys``), error and body handling
(``http``), the login/Origin/CSRF guard (``security``) and its sessions
(``sessions``), the Protocols for
what the host hands in (``feed``, ``operator``), the meta-repo thread
(``meta``) and the webhook's pure parts (``forgejo``). Also at the top, and
not part of the app: Forgejo's daemon component (``forge_component``: the
outbox sender and the watches in ``forge_pulls`` and ``forge_apply``), which
`hive serve` runs with or without the dashboard.

Must not be here: logic the CLI also needs (it belongs in ``desired``,
``hive_core`` or ``hive_kit``), and anything that changes the world other
than desired state: restart, rebuild and purge are asks to the host core's
``ReconcilerControl``; the dashboard imports only the reconciler's read-only
modules (an import-linter contract says so).
"""
