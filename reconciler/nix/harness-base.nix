# Every hyperhive agent container: the hyperhive.* options and the harness service.
# The option defaults come from the agent's JSON (agent-json.nix), so Nix and Python share
# one source of truth; agents/<name>/agent.nix may override any of them but hyperhive.uid.
#
# The agent is hostile: its harness (and so claude and every tool it runs) is the user
# `hive-agent`, whose uid/gid is the one the daemon allocated to this agent on the host. No user
# namespace (the container's conf says PRIVATE_USERS=no, see container.nix), so that uid is the
# same number on the host: /state and the sockets the daemon chowns to it are the agent's, exactly
# as for the local runtime. Inside, the unit drops every capability, cannot gain one back
# (no_new_privs), sees the file system read-only but for /state, /run/hive/page and a private
# /tmp, and has no network but loopback (the container has no other interface): its only way
# out is the host's egress proxy on /run/hive/egress.sock.
{ config, lib, pkgs, ... }:
let
  cfg = config.hyperhive;
  fromJson = import ./agent-json.nix cfg.configFile;
  user = "hive-agent";
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
    uid = lib.mkOption {
      type = lib.types.nullOr lib.types.ints.positive;
      default = fromJson.uid;
      description = ''
        The agent's host uid and gid (the harness runs as user hive-agent with them), allocated
        by the daemon and read from agent.json. Read it; setting it fails the build.
      '';
    };
    package = lib.mkOption {
      type = lib.types.package;
      default = pkgs.hyperhive or (throw "hyperhive: set hyperhive.package (pkgs.hyperhive is not in this nixpkgs)");
      description = "The hyperhive package providing hive-harness.";
    };
  };

  config = {
    assertions = [
      {
        assertion = cfg.uid != null;
        message = "hyperhive: agent ${cfg.name} has no uid in its agent.json: the daemon allocates one per agent (hive serve --agent-uids); the harness never runs as root";
      }
      {
        assertion = cfg.uid == fromJson.uid;
        message = "hyperhive: agent ${cfg.name}: hyperhive.uid is the daemon's allocation (agent.json), not something agent.nix may set";
      }
    ];
    boot.isContainer = true;
    networking.hostName = cfg.name;
    networking.useDHCP = false; # nothing to ask: the container has loopback only
    environment.etc."hyperhive/agent.json".source = cfg.configFile;
    users.users.${user} = {
      isSystemUser = true;
      uid = cfg.uid;
      group = user;
      home = "/state/home";
      createHome = false;
    };
    users.groups.${user}.gid = cfg.uid;
    # /state is bound from the host; the page socket's directory is made here, inside the bound
    # /run/hive, so the harness (not root) can bind page.sock in it. Only these two paths, never
    # anything below /state: the agent controls what is in there.
    systemd.tmpfiles.rules = [
      "d /state 0700 ${user} ${user} -"
      "d /run/hive/page 0700 ${user} ${user} -"
    ];
    systemd.services.hive-harness = {
      description = "hyperhive harness for agent ${cfg.name}";
      wantedBy = [ "multi-user.target" ];
      environment = {
        HIVE_AGENT_CONFIG = "/etc/hyperhive/agent.json";
        HIVE_SOCKET = "/run/hive/hive.sock";
        HIVE_EGRESS_SOCKET = "/run/hive/egress.sock";
        HIVE_PAGE_SOCKET = "/run/hive/page/page.sock";
        HIVE_AGENT_STATE = "/state";
        HOME = "/state/home";
      };
      serviceConfig = {
        ExecStart = "${cfg.package}/bin/hive-harness serve --role ${cfg.role}";
        WorkingDirectory = "/state";
        Restart = "on-failure";
        User = user;
        Group = user;
        UMask = "0077";
        # No capability, now or later (setuid binaries and file capabilities do nothing).
        NoNewPrivileges = true;
        CapabilityBoundingSet = "";
        AmbientCapabilities = "";
        # Writable: /state, the page socket's directory, a private /tmp. Connecting to
        # hive.sock and egress.sock needs no write access to the file system.
        ProtectSystem = "strict";
        ProtectHome = true;
        PrivateTmp = true;
        ReadWritePaths = [ "/state" "/run/hive/page" ];
        # Loopback is the only interface; AF_NETLINK and AF_PACKET are refused outright.
        RestrictAddressFamilies = [ "AF_UNIX" "AF_INET" "AF_INET6" ];
        # Less kernel to attack. Not MemoryDenyWriteExecute: node's JIT needs W+X pages.
        RestrictNamespaces = true;
        PrivateDevices = true;
        ProtectProc = "invisible";
        ProtectKernelTunables = true;
        ProtectKernelModules = true;
        ProtectKernelLogs = true;
        ProtectControlGroups = true;
        ProtectClock = true;
        ProtectHostname = true;
        RestrictSUIDSGID = true;
        RestrictRealtime = true;
        LockPersonality = true;
        RemoveIPC = true;
        SystemCallArchitectures = "native";
      };
    };
    system.stateVersion = "25.05";
  };
}
