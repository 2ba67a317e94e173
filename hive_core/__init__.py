"""Host core: wire types, durable stores, sockets and the event stream.

Belongs here: the JSON-lines wire (shared with the harness), apsw stores
(broker, questions, reminders, deploys, events), unix-socket servers and the
client, the event channel with its monotonic `seq`, and the schedulers.
Must not be here: planning or running containers (`reconciler/`), HTTP
(`hive_web/`), CLI output (`hive/`).
"""
