# The host side: `services.hyperhive` runs `hive serve` (reconciler, broker, dashboard) as a service.
{ config, lib, pkgs, ... }:
let
  cfg = config.services.hyperhive;
in
{
  options.services.hyperhive = {
    enable = lib.mkEnableOption "hyperhive, a swarm of Claude Code agents steered from desired state";
    package = lib.mkOption {
      type = lib.types.package;
      default = pkgs.hyperhive or (throw "services.hyperhive.package must be set");
      description = "The hyperhive package (provides `hive`).";
    };
    stateDir = lib.mkOption {
      type = lib.types.path;
      default = "/var/lib/hyperhive";
      description = "meta.git, hive.sqlite, sockets and every agent's state dir.";
    };
    dashboardPort = lib.mkOption { type = lib.types.port; default = 7000; };
    operatorPronouns = lib.mkOption {
      type = lib.types.str;
      default = "they/them";
      description = "How agents refer to the operator (seeded into hive.json by `hive init`).";
    };
    runtime = lib.mkOption {
      type = lib.types.enum [ "local" "nixos" ];
      default = "nixos";
      description = "nixos: one nixos-container per agent; local: bubblewrap sandboxes.";
    };
    agentUids = lib.mkOption {
      type = lib.types.strMatching "[0-9]+-[0-9]+";
      default = "60100-60999";
      description = ''
        Host uids (and gids) the daemon allocates agents from, one each; no user or group of
        this host may use them. Clear of NixOS's system (< 1000) and normal users, of nixbld's
        30000s and of systemd's DynamicUser range (61184-65519). With the nixos runtime the
        harness runs as that uid inside the container too (no user namespace).
      '';
    };
  };

  config = lib.mkIf cfg.enable {
    boot.enableContainers = lib.mkIf (cfg.runtime == "nixos") true;
    systemd.services.hyperhive = {
      description = "hyperhive daemon";
      wantedBy = [ "multi-user.target" ];
      after = [ "network-online.target" ];
      wants = [ "network-online.target" ];
      # nix: the nixos runtime evaluates each container's settings with nix-instantiate.
      path = [ pkgs.git pkgs.bubblewrap pkgs.nix ] ++ lib.optional (cfg.runtime == "nixos") pkgs.nixos-container;
      environment = {
        HIVE_STATE_DIR = toString cfg.stateDir;
        HIVE_RUNTIME = cfg.runtime;
        HIVE_AGENT_UIDS = cfg.agentUids; # read by `hive serve` like --agent-uids
      };
      preStart = "${cfg.package}/bin/hive init --state-dir ${toString cfg.stateDir}";
      # Root: it creates namespaces and containers and chowns each agent's state dir to its uid.
      serviceConfig = {
        ExecStart = "${cfg.package}/bin/hive serve --state-dir ${toString cfg.stateDir} --port ${toString cfg.dashboardPort}";
        StateDirectory = "hyperhive";
        Restart = "on-failure";
        KillMode = "process"; # agents outlive a daemon restart; the new daemon adopts them
      };
    };
  };
}
