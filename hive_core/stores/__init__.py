"""Durable stores, one file per store, each opened with ``hive_core.db.open_db``."""
