"""The in-container harness: one agent's turn loop on the Claude Code CLI.

Belongs here: the turn loop, the claude CLI driver, the stream-json parser,
the MCP server (agent and manager surfaces), the per-agent event bus, turn
stats and login state.
Must not be here: anything of the host beyond `hive_core.wire` and
`hive_core.client`: the harness runs inside the sandbox and its socket is its
only door.
"""
