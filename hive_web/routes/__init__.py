"""HTTP handlers, one route group per file: parse, call a reader or a writer, call a view, respond.

Writers are other packages' (``desired.edit.write``, ``desired.proposals``,
host-core ops run as the operator, the host core's ``ReconcilerControl``);
refusals are raised and become JSON in ``hive_web.http``.
"""
