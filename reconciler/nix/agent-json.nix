# Reads an agent's launch config (the JSON the reconciler renders, hive_kit.launch.AgentLaunchConfig)
# into the values the hyperhive.* options default to. Plain Nix, no nixpkgs: the tests evaluate it
# with `nix-instantiate --eval --strict` and compare with what Python wrote.
path:
let
  agent = builtins.fromJSON (builtins.readFile path);
in
{
  name = agent.name;
  role = agent.role;
  model = agent.model;
  description = agent.description or "";
  operatorPronouns = agent.operator_pronouns or "they/them";
  allowedRecipients = agent.allowed_recipients or [ ];
  extraMcpServers = builtins.mapAttrs (key: server: {
    command = server.command;
    args = server.args or [ ];
    env = server.env or { };
    allowedTools = server.allowed_tools or [ "*" ];
  }) (agent.extra_mcp_servers or { });
  uid = agent.uid or null; # the agent's own host uid/gid, allocated by the daemon
  revision = agent.revision or "";
}
