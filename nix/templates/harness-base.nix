# Every hyperhive agent container: the hyperhive.* options and the harness service.
# The option defaults come from the agent's JSON (agent-json.nix), so Nix and Python share
# one source of truth; agents/<name>/agent.nix may override any of them.
{ config, lib, pkgs, ... }:
let
  cfg = config.hyperhive;
  fromJson = import ./agent-json.nix cfg.configFile;
  mcpServer = lib.types.submodule {
    options = {
      command = lib.mkOption { type = lib.types.str; description = "Executable of the MCP server."; };
      args = lib.mkOption { type = lib.types.listOf lib.types.str; default = [ ]; };
      env = lib.mkOption { type = lib.types.attrsOf lib.types.str; default = { }; };
      allowedTools = lib.mkOption { type = lib.types.listOf lib.types.str; default = [ "*" ]; };
    };
  };
in
{
  options.hyperhive = {
    configFile = lib.mkOption {
      type = lib.types.path;
      description = "The agent's launch config (agent.json) rendered by the reconciler.";
    };
    name = lib.mkOption { type = lib.types.str; default = fromJson.name; };
    role = lib.mkOption { type = lib.types.enum [ "agent" "manager" ]; default = fromJson.role; };
    model = lib.mkOption { type = lib.types.str; default = fromJson.model; description = "Claude model."; };
    operatorPronouns = lib.mkOption { type = lib.types.str; default = fromJson.operatorPronouns; };
    allowedRecipients = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      default = fromJson.allowedRecipients;
      description = "Who the agent may message; empty means anyone (the manager is always allowed).";
    };
    extraMcpServers = lib.mkOption {
      type = lib.types.attrsOf mcpServer;
      default = fromJson.extraMcpServers;
      description = "Extra MCP servers, as mcp__<key>__<tool>; the key 'hyperhive' is reserved.";
    };
    package = lib.mkOption {
      type = lib.types.package;
      default = pkgs.hyperhive or (throw "hyperhive: set hyperhive.package (pkgs.hyperhive is not in this nixpkgs)");
      description = "The hyperhive package providing hive-harness.";
    };
  };

  config = {
    boot.isContainer = true;
    networking.hostName = cfg.name;
    environment.etc."hyperhive/agent.json".source = cfg.configFile;
    systemd.services.hive-harness = {
      description = "hyperhive harness for agent ${cfg.name}";
      wantedBy = [ "multi-user.target" ];
      environment = {
        HIVE_AGENT_CONFIG = "/etc/hyperhive/agent.json";
        HIVE_SOCKET = "/run/hive/hive.sock";
        HIVE_AGENT_STATE = "/state";
        HOME = "/state/home";
      };
      serviceConfig = {
        ExecStart = "${cfg.package}/bin/hive-harness serve --role ${cfg.role}";
        WorkingDirectory = "/state";
        Restart = "on-failure";
      };
    };
    system.stateVersion = "25.05";
  };
}
