"""Pure: the data a reader gathered → the JSON (or HTML) the browser renders.

No I/O here: no files, git, sqlite, sockets or clock. Each function takes plain
data (desired state, proposals, commit infos, recorded statuses, summaries)
and returns plain data, so handlers stay a few lines and these are tested
without a server. A view that needs something from disk gets it from
``hive_web.readers``.
"""
