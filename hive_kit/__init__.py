"""The kit: the contract between the host and an agent's harness, and nothing else.

Belongs here: the JSON-lines wire and its client, the error tree and its one
mapping to wire codes, HTTP statuses and exit codes, the launch config the
reconciler writes and the harness reads, names and roles, the state-dir and
sandbox layout, opening an sqlite store, and the one helper that starts
long-lived tasks.

Must not be here: anything only the host needs. The kit imports pydantic and
apsw and nothing of hyperhive's, so a harness in a pod on another machine
installs and runs with ``hive_kit`` and ``hive_harness`` alone (no pygit2,
watchfiles or jinja2). Every other package may import it; it imports none
of them.

    wire.py, client.py     requests and responses, one per line, and the client for both sides
    errors.py              the error tree and ERROR_TABLE (wire code, HTTP status, exit code)
    names.py               agent names, Role, AgentName/ProposalId, operator/manager/broadcast
    launch.py              AgentLaunchConfig: what the harness is told at launch
    paths.py               where things live: the host's state dir and the sandbox's view
    db.py                  apsw + WAL + ``PRAGMA user_version`` migrations
    tasks.py               start_task, wait_or_timeout, run_root_tasks
"""
