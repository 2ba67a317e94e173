"""The face of hyperhive: the `hive` command and `hive serve`.

Belongs here: argument parsing, output (rich tables for people, --json for
machines), exit codes, and wiring the daemon's parts together in `hive serve`.
Must not be here: logic another surface (the dashboard, the manager's tools)
would need; that lives in `desired/`, `hive_core/` or `reconciler/`. Nothing
imports this package.
"""
