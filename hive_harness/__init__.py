"""The in-container harness: one agent's turn loop on the Claude Code CLI.

Belongs here: the turn loop (`loop`), the claude CLI driver (`command`,
`claude_run`), the stream-json parser (`streamjson`), the MCP server with the
agent and manager surfaces (`mcp_*`), the per-agent event bus (`events`), turn
stats (`stats`), login (`login`) and the agent page backend (`web`).
Must not be here: anything of the host beyond `hive_kit.wire`, `client`,
`launch` and `errors` (and `desired` for validating proposed changes): the
harness runs inside the sandbox and its socket is its only door.
"""
