# The manager: the same harness, whose manager MCP surface follows from hyperhive.role (read from
# agent.json: `hive-harness serve --role manager`). Nothing more yet; it sets no hyperhive.*
# option: those are read-only views of agent.json (harness-base.nix).
{ ... }:
{
}
