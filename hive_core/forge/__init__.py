"""Forgejo as a review surface: the connection, the API client, and what hyperhive sends back.

Belongs here: the stored connection (``connection``: URL, repo, the token in
a 0600 file outside anything a sandbox binds), the durable outbox and its
record of what was sent (``store``, ``forge.sqlite``), the pyforgejo client
with its errors translated (``client``), the pure texts of statuses and the
plan comment (``report``), the background sender that retries with
backoff (``sender``), and the claim that keeps it to one per state dir
(``claim``).

Must not be here: receiving webhooks (``hive_web.routes.hooks``), planning
(the reconciler; the web tier hands the rendered plan in), anything that
blocks the reconciler: API calls happen only in the sender's task.

A swarm without a forge never touches this package beyond "not connected".
"""
