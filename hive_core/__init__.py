"""Host core: durable stores, the event stream, sockets and op handlers, the meta watch.

Belongs here: apsw stores (broker, questions, reminders, events), the
unix-socket servers (identity = socket) and one handler per wire op, the
event channel with its monotonic `seq`, the one watcher on the meta repo's
refs, and the schedulers. The wire itself, the client, errors and names are
the kit's (``hive_kit``), shared with the harness.
Must not be here: planning or running containers (`reconciler/`), HTTP
(`hive_web/`), CLI output (`hive/`), anything the harness needs (`hive_kit/`).

Where things are:

    events.py                       the event union and EventLog (seq, history, subscribe)
    control.py, harnesses.py        the reconciler seam (ReconcilerControl, HarnessRegistry)
    core.py                         HostCore: stores + event log + desired view, one per daemon
    metawatch.py                    the one watcher on the meta repo's refs; everyone subscribes
    desired_view.py, proposal_watch.py   `main` as last read; proposal tags → events
    stores/                         apsw tables (broker, questions, reminders), group commit, checkpoints
    ops/                            one handler per wire op; ``perform`` runs one in-process
    routing.py, notices.py          recipients over desired state; which events reach an inbox
    server.py, sockets.py           JSON-lines framing and the unix sockets (identity = socket)
    schedulers.py                   deadlines, retention, following `main`
    ledger.py, prices.py            the host's cost ledger (turn_usage, `hive costs`) and its price table
    egress.py, egress_policy.py     each agent's egress proxy (egress.sock) and its allow-list
    gateway.py, gateway_usage.py    each agent's model-API gateway (model.sock): the host's key, usage
                                    off the wire into the ledger. HTTP, but an agent's socket (identity =
                                    socket), not the dashboard's: so here, not in hive_web
    tls_broker.py, tokenreview.py   the broker over TLS for pods (identity = a reviewed ServiceAccount token);
    broker_certs.py, broker_pods.py its certificate, and what pods are told (URL, CA) in STATE/broker-tls/;
    hello_limit.py                  failed hellos per address: a flooding peer is refused without a review
"""
