"""Host core: wire types, durable stores, sockets and the event stream.

Belongs here: the JSON-lines wire (shared with the harness), apsw stores
(broker, questions, reminders, deploys, events), unix-socket servers and the
client, the event channel with its monotonic `seq`, and the schedulers.
Must not be here: planning or running containers (`reconciler/`), HTTP
(`hive_web/`), CLI output (`hive/`).

Where things are:

    wire.py, client.py, errors.py   the contract with the harness and the CLI (the harness imports
                                    only these and launch.py)
    events.py                       the event union and EventLog (seq, history, subscribe)
    control.py, harnesses.py        the reconciler seam (ReconcilerControl, HarnessRegistry)
    core.py                         HostCore: stores + event log + desired view, one per daemon
    stores/                         apsw tables (broker, questions, reminders), group commit, checkpoints
    ops/                            one handler per wire op; ``perform`` runs one in-process
    routing.py, notices.py          pure rules: who may message whom; which events reach an inbox
    server.py, sockets.py           JSON-lines framing and the unix sockets (identity = socket)
    schedulers.py, tasks.py         deadlines, retention, meta watch; the task helper
"""
