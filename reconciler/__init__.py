"""The reconciler: observe → diff → plan → act, level-triggered.

Belongs here: the pure diff and plan over frozen records, the loop (triggers,
work queue, backoff, conditions, history), the runtime drivers (`local`,
`nixos`) and Nix rendering from
`templates/` and `nix/` (package data, read with `importlib.resources`).
Must not be here: editing desired state (that is `desired/`), sockets and
stores (`hive_core/`), HTTP (`hive_web/`).
"""
