"""The host's durable stores: one apsw connection to `hive.sqlite`, one class per table group.

Belongs here: SQL and the pure mapping of rows to ``hive_kit.wire`` records.
Must not be here: sockets, authorisation (``hive_core.handlers``), events
beyond publishing what a store just changed.
"""
