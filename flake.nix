# hyperhive's flake: the package, the host's NixOS module, the agent containers' modules, an overlay.
#
# A NixOS host adds this flake as an input, imports nixosModules.default and sets
# services.hyperhive.enable (docs/nixos.md). The daemon renders one more flake, the meta flake,
# whose inputs are this flake's source and the host's nixpkgs, pinned to store paths by the host
# module; every agent container is built from nixosModules.harness-base there.
#
# The container modules are plain paths, not wrapped: the meta flake imports them by the same
# path into each agent's nixosSystem. No flake.lock is committed (none can be made where this was
# written, with no network): `nix flake lock` makes one, and a host that follows its own nixpkgs
# (inputs.hyperhive.inputs.nixpkgs.follows = "nixpkgs") needs none.
{
  description = "hyperhive: a swarm of Claude Code agents, steered from desired state in a git meta repo";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.05";

  outputs = { self, nixpkgs }:
    let
      lib = nixpkgs.lib;
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forEachSystem = f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      packages = forEachSystem (pkgs: rec {
        hyperhive = pkgs.callPackage ./nix/package.nix { };
        default = hyperhive;
      });

      overlays.default = final: prev: { hyperhive = final.callPackage ./nix/package.nix { }; };

      nixosModules = {
        # The host: services.hyperhive, its package defaulting to this flake's.
        default = { lib, pkgs, ... }: {
          imports = [ ./nix/modules/hyperhive.nix ];
          services.hyperhive.package = lib.mkDefault self.packages.${pkgs.stdenv.hostPlatform.system}.default;
        };
        hyperhive = self.nixosModules.default;
        # Inside every agent's container (the meta flake imports these).
        harness-base = ./reconciler/nix/harness-base.nix;
        agent = ./reconciler/nix/agent.nix;
        manager = ./reconciler/nix/manager.nix;
      };

      checks = forEachSystem (pkgs: { package = self.packages.${pkgs.stdenv.hostPlatform.system}.default; });
    };
}
