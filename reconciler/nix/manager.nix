# The manager: the same harness, with the manager's MCP surface (selected by --role manager).
{ ... }:
{
  hyperhive.role = "manager";
}
