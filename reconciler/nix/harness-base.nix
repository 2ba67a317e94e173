# Every hyperhive agent container: the hyperhive.* options and the harness service.
#
# One source of truth, one direction. Desired state (agents/<name>.json, hive.json) is rendered by
# the reconciler into the agent's launch config, agent.json, which is what the harness reads; every
# hyperhive.* option here is a read-only view of that file, or of what the host pinned (the
# packages). agents/<name>/agent.nix may read them (config.hyperhive.name) and extend the container
# with anything else, but setting one fails the build with an assertion naming the JSON field to
# change instead. The check is the option's priority: a value that comes only from its default
# has mkOptionDefault's 1500, and any definition in agent.nix (plain, mkDefault, mkForce) outranks
# it. The pre-receive hook refuses such an agent.nix earlier, from its text (desired/agentnix.py,
# the same table of fields); this is the check that cannot be talked around.
#
# The meta flake passes `hyperhiveAgent` = { configFile; package; modelGateway; } in specialArgs:
# the agent's agent.json, hive-harness from its pinned hyperhive input, and whether the host holds
# the model key. claude-code comes from the container's own nixpkgs, the meta flake's pinned
# nixpkgs input.
#
# The model key stays on the host. With modelGateway the harness gets HIVE_MODEL_SOCKET, the
# host's gateway at /run/hive/model.sock (in the bound run dir, beside hive.sock), serves it on
# loopback and gives claude a placeholder key; the gateway adds the real one on the host. Without
# it (no key on the host, or HIVE_MODEL_GATEWAY=off) the agent logs in on its own page. The key is
# never put in the container: not here, not in agent.json (both end up in the world-readable store).
#
# The agent is hostile: its harness (and so claude and every tool it runs) is the user
# `hive-agent`, whose uid/gid is the one the daemon allocated to this agent on the host. No user
# namespace (the container's conf says PRIVATE_USERS=no, see container.nix), so that uid is the
# same number on the host: /state and the sockets the daemon chowns to it are the agent's, exactly
# as for the local runtime. Inside, the unit drops every capability, cannot gain one back
# (no_new_privs), sees the file system read-only but for /state, /run/hive/page and a private
# /tmp, and has no network but loopback (the container has no other interface): its only way
# out is the host's egress proxy on /run/hive/egress.sock.
{ config, lib, pkgs, options, hyperhiveAgent, ... }:
let
  cfg = config.hyperhive;
  fromJson = import ./agent-json.nix hyperhiveAgent.configFile;
  user = "hive-agent";
  agentFile = "agents/${fromJson.name}.json";
  # Each option: where its value comes from, and how to change it there. desired/agentnix.py
  # holds the same table for the pre-receive hook; tests/nixos/test_agent_options.py compares them.
  sources = {
    configFile = { from = "the launch config the reconciler renders from desired state"; fix = "change the agent's JSON instead"; };
    name = { from = "${agentFile} `name`"; fix = "an agent's name is its file name: add one under the new name and remove this one"; };
    role = { from = "${agentFile} `role`"; fix = "hive agent set ${fromJson.name} role agent"; };
    model = { from = "${agentFile} `model`"; fix = "hive agent set ${fromJson.name} model opus"; };
    operatorPronouns = { from = "hive.json `operator_pronouns`"; fix = "hive desired edit"; };
    allowedRecipients = { from = "${agentFile} `allowed_recipients`"; fix = "hive agent set ${fromJson.name} allowed_recipients manager,operator"; };
    extraMcpServers = { from = "${agentFile} `extra_mcp_servers`"; fix = "hive desired edit"; };
    uid = { from = "the daemon's allocation (services.hyperhive.agentUids)"; fix = "nothing to set: each agent gets its own uid"; };
    package = { from = "the host's hyperhive (the meta flake's hyperhive input)"; fix = "upgrade hyperhive on the host"; };
    claudePackage = { from = "the host's nixpkgs (the meta flake's nixpkgs input)"; fix = "upgrade nixpkgs on the host"; };
  };
  view = name: attrs: lib.mkOption (attrs // {
    description = (attrs.description or "") + " Read-only: set from ${sources.${name}.from}.";
  });
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
    configFile = view "configFile" {
      type = lib.types.path;
      default = hyperhiveAgent.configFile;
      description = "The agent's launch config (agent.json) rendered by the reconciler.";
    };
    name = view "name" { type = lib.types.str; default = fromJson.name; };
    role = view "role" { type = lib.types.enum [ "agent" "manager" ]; default = fromJson.role; };
    model = view "model" { type = lib.types.str; default = fromJson.model; description = "Claude model."; };
    operatorPronouns = view "operatorPronouns" { type = lib.types.str; default = fromJson.operatorPronouns; };
    allowedRecipients = view "allowedRecipients" {
      type = lib.types.listOf lib.types.str;
      default = fromJson.allowedRecipients;
      description = "Who the agent may message; empty means anyone (the manager is always allowed).";
    };
    extraMcpServers = view "extraMcpServers" {
      type = lib.types.attrsOf mcpServer;
      default = fromJson.extraMcpServers;
      description = "Extra MCP servers, as mcp__<key>__<tool>; the key 'hyperhive' is reserved.";
    };
    uid = view "uid" {
      type = lib.types.nullOr lib.types.ints.positive;
      default = fromJson.uid;
      description = "The agent's host uid and gid (the harness runs as user hive-agent with them).";
    };
    package = view "package" {
      type = lib.types.package;
      default = hyperhiveAgent.package;
      description = "The hyperhive package providing hive-harness.";
    };
    claudePackage = view "claudePackage" {
      type = lib.types.package;
      default = pkgs.claude-code;
      description = "The Claude Code CLI the harness runs (HIVE_CLAUDE_BIN).";
    };
  };

  config = {
    assertions = [
      {
        assertion = fromJson.uid != null;
        message = "hyperhive: agent ${fromJson.name} has no uid in its agent.json: the daemon allocates one per agent (hive serve --agent-uids); the harness never runs as root";
      }
    ] ++ lib.mapAttrsToList (name: source: {
      # 1500 is mkOptionDefault: nothing but the default defines it.
      assertion = options.hyperhive.${name}.highestPrio >= 1500;
      message = "hyperhive: agent ${fromJson.name}: hyperhive.${name} is set from ${source.from}; change it there (${source.fix}), not in agent.nix";
    }) sources;
    # claude-code is unfree; allow it and nothing else (an agent.nix that needs another unfree
    # package sets its own predicate, and must keep claude-code in it).
    nixpkgs.config.allowUnfreePredicate = lib.mkDefault (pkg: builtins.elem (lib.getName pkg) [ "claude-code" ]);
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
        HIVE_CLAUDE_BIN = "${cfg.claudePackage}/bin/claude";
        HOME = "/state/home";
      } // lib.optionalAttrs (hyperhiveAgent.modelGateway or false) {
        HIVE_MODEL_SOCKET = "/run/hive/model.sock";
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
        # hive.sock, egress.sock and model.sock needs no write access to the file system.
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
