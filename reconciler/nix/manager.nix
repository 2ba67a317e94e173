# The manager: the same harness, whose manager MCP surface follows from hyperhive.role (read from
# agent.json: `hive-harness serve --role manager`). It sets no hyperhive.* option: those are
# read-only views of agent.json (harness-base.nix). It adds git: the harness clones the read-only
# /meta.git view (bound by container.nix) into /state/meta and bundles the manager's commits.
{ pkgs, ... }:
{
  systemd.services.hive-harness.path = [ pkgs.git ];
}
