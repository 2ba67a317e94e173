"""`python -m hive_harness` = `hive-harness` (how claude launches the MCP server from this checkout)."""

from hive_harness.cli import main

main()
