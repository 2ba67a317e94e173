# The host side: `services.hyperhive` runs `hive serve` (reconciler, broker, dashboard) as a service.
#
# Every flag ExecStart and preStart pass is parsed by the real CLI in the tests
# (tests/nixos/test_host_module.py), and every HIVE_* variable set here is one the code reads:
# a renamed flag fails there, not on a host. Import it through the flake (nixosModules.default),
# which sets `package` to the flake's own; docs/nixos.md has the options with an example.
{ config, lib, pkgs, ... }:
let
  cfg = config.services.hyperhive;
  stateDir = toString cfg.stateDir;
  uidRange = builtins.match "([0-9]+)-([0-9]+)" cfg.agentUids;
  inAgentRange = id:
    id != null && uidRange != null
    && id >= lib.toInt (builtins.head uidRange) && id <= lib.toInt (builtins.elemAt uidRange 1);
  # What `hive` commands need to find the same swarm: the service and the operator's shell.
  cliEnv = {
    HIVE_STATE_DIR = stateDir;
    HIVE_RUNTIME = cfg.runtime;
    HIVE_AGENT_UIDS = cfg.agentUids;
  };
  serve = [
    "${cfg.package}/bin/hive" "serve"
    "--state-dir" stateDir
    "--runtime" cfg.runtime
    "--web-host" cfg.dashboardHost
    "--web-port" (toString cfg.dashboardPort)
    "--agent-uids" cfg.agentUids
  ];
in
{
  imports = [
    (lib.mkRemovedOptionModule [ "services" "hyperhive" "operatorPronouns" ] ''
      How agents refer to the operator is desired state: set `operator_pronouns` in the meta
      repo's hive.json (`hive desired edit`, or push it), where every change is reviewed and logged.'')
  ];

  options.services.hyperhive = {
    enable = lib.mkEnableOption "hyperhive, a swarm of Claude Code agents steered from desired state";
    package = lib.mkOption {
      type = lib.types.package;
      default = pkgs.hyperhive or (throw "services.hyperhive.package is not set and pkgs has no hyperhive: import hyperhive's flake module (inputs.hyperhive.nixosModules.default), which sets it, or add its overlays.default");
      defaultText = lib.literalExpression "hyperhive.packages.\${system}.default (with the flake's module)";
      description = "The hyperhive package (provides `hive`).";
    };
    claudePackage = lib.mkOption {
      type = lib.types.package;
      default = pkgs.claude-code;
      defaultText = lib.literalExpression "pkgs.claude-code";
      description = ''
        The Claude Code CLI agents run with the local runtime (its bin/claude is passed to every
        sandbox as HIVE_CLAUDE_BIN). claude-code is unfree: allow it (docs/nixos.md). With the
        nixos runtime each container takes claude-code from the meta flake's nixpkgs input.
      '';
    };
    stateDir = lib.mkOption {
      type = lib.types.path;
      default = "/var/lib/hyperhive";
      description = "meta.git, hive.sqlite, sockets and every agent's state dir.";
    };
    dashboardHost = lib.mkOption {
      type = lib.types.str;
      default = "127.0.0.1";
      description = "Address the dashboard binds (`hive serve --web-host`); every bind needs a login.";
    };
    dashboardPort = lib.mkOption {
      type = lib.types.port;
      default = 7000;
      description = "The dashboard's port (`hive serve --web-port`).";
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
        this host may use them (an assertion checks users.users and users.groups). Clear of
        NixOS's system (< 1000) and normal users, of nixbld's 30000s and of systemd's
        DynamicUser range (61184-65519). With the nixos runtime the harness runs as that uid
        inside the container too (no user namespace).
      '';
    };
    environmentFile = lib.mkOption {
      type = lib.types.nullOr lib.types.path;
      default = null;
      description = ''
        KEY=value lines for the daemon, kept out of the Nix store: ANTHROPIC_API_KEY (or
        ANTHROPIC_BASE_URL). Agents reach the model API through the host's egress proxy.
      '';
    };
    containerInputs = {
      hyperhive = lib.mkOption {
        type = lib.types.str;
        default = "path:${cfg.package.src}";
        defaultText = lib.literalExpression ''"path:''${config.services.hyperhive.package.src}"'';
        description = ''
          The meta flake's `hyperhive` input (nixos runtime): where every container's
          hive-harness and modules come from. The default is the source the host's package was
          built from, a store path, so containers run the revision the host runs and a build
          needs no network. Set it only if your package's src is not hyperhive's source tree.
        '';
      };
      nixpkgs = lib.mkOption {
        type = lib.types.str;
        default = "path:${pkgs.path}";
        defaultText = lib.literalExpression ''"path:''${pkgs.path}"'';
        description = ''
          The meta flake's `nixpkgs` input (nixos runtime): the nixpkgs this host is built from,
          as a store path. Containers (and hyperhive's own nixpkgs input) follow it.
        '';
      };
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = uidRange != null && lib.toInt (builtins.head uidRange) <= lib.toInt (builtins.elemAt uidRange 1);
        message = "services.hyperhive.agentUids = \"${cfg.agentUids}\": the first uid must not be above the last";
      }
      {
        assertion = !(builtins.any (u: inAgentRange (u.uid or null)) (builtins.attrValues config.users.users))
          && !(builtins.any (g: inAgentRange (g.gid or null)) (builtins.attrValues config.users.groups));
        message = "services.hyperhive.agentUids (${cfg.agentUids}) overlaps a uid or gid in users.users/users.groups: an agent would share its files; move one of them";
      }
    ];
    boot.enableContainers = lib.mkIf (cfg.runtime == "nixos") true;
    environment.systemPackages = [ cfg.package ];
    environment.variables = cliEnv; # `hive status`, `hive agent ...` as root find this swarm
    systemd.services.hyperhive = {
      description = "hyperhive daemon";
      wantedBy = [ "multi-user.target" ];
      after = [ "network-online.target" ];
      wants = [ "network-online.target" ];
      # git for the meta repo; bwrap and setpriv for the local runtime's sandboxes; nix and
      # nixos-container for the nixos runtime (the package's wrapper carries the first three too).
      path = [ pkgs.git pkgs.bubblewrap pkgs.util-linux pkgs.nix ]
        ++ lib.optional (cfg.runtime == "nixos") pkgs.nixos-container;
      environment = cliEnv // lib.optionalAttrs (cfg.runtime == "local") {
        HIVE_CLAUDE_BIN = "${cfg.claudePackage}/bin/claude"; # bound into each sandbox
      } // lib.optionalAttrs (cfg.runtime == "nixos") {
        # The meta flake's pinned inputs (reconciler.nixrender.FlakeInputs.from_env). The
        # interpolation keeps both store paths alive: they are in the system's closure.
        HIVE_HYPERHIVE_INPUT = cfg.containerInputs.hyperhive;
        HIVE_NIXPKGS_INPUT = cfg.containerInputs.nixpkgs;
        HIVE_NIX_SYSTEM = pkgs.stdenv.hostPlatform.system;
      };
      preStart = "${cfg.package}/bin/hive init --state-dir ${stateDir}";
      # Root: it creates namespaces and containers, drops each agent to its own uid (setpriv) and
      # chowns each agent's state dir to it. Each agent gets its own network namespace with only
      # loopback (bwrap --unshare-net, or the container's privateNetwork) and reaches out only
      # through the egress proxy the daemon serves on its run/agents/<name>/egress.sock.
      serviceConfig = {
        ExecStart = lib.escapeShellArgs serve;
        StateDirectory = lib.mkIf (stateDir == "/var/lib/hyperhive") "hyperhive";
        EnvironmentFile = lib.mkIf (cfg.environmentFile != null) (toString cfg.environmentFile);
        Restart = "on-failure";
        KillMode = "process"; # agents outlive a daemon restart; the new daemon adopts them
      };
    };
  };
}
