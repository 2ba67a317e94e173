# Test seam: a stand-in for the nixpkgs flake (there is no nixpkgs here; see nixlib.nix).
#
# `pkgs` holds only the packages hyperhive's Nix names, each a fake derivation: a set with
# type = "derivation", a name and an outPath under /nix/store that no build made. callPackage
# fills a function's arguments from `pkgs` like nixpkgs' does; buildPythonApplication returns
# its arguments as the derivation's attributes (as mkDerivation does), with `src` replaced by a
# fake store path: copying the real checkout into a store is what a real build does, and this
# machine must not. `flake` has the attributes of the nixpkgs flake the Nix files use: lib
# (this lib plus nixosSystem), legacyPackages.<system> and outPath. nixosSystem evaluates the
# modules with nixlib.nix's evalModules and offers `toplevel`, which fails like a NixOS build on a
# failed assertion ("Failed assertions: - ...").
{ lib ? import ./nixlib.nix, system ? "x86_64-linux" }:
let
  inherit (builtins) filter functionArgs intersectAttrs isFunction substring hashString;
  storePath = name: "/nix/store/${substring 0 32 (hashString "sha256" name)}-${name}";
  drv = name: attrs: {
    type = "derivation";
    inherit name;
    pname = name;
    outPath = storePath name;
    meta.mainProgram = name;
  } // attrs;
  # nixpkgs' python3Packages attribute names of hyperhive's dependencies (pyproject.toml), and
  # the build backend.
  pythonPackages = [
    "pydantic" "apsw" "aiohttp" "aiohttp-sse" "typer" "mcp" "uvicorn" "starlette"
    "pygit2" "watchfiles" "rich" "jinja2" "pyforgejo" "setuptools"
  ];
  pkgs = {
    inherit lib;
    path = storePath "source";
    stdenv.hostPlatform.system = system;
    git = drv "git" { };
    bubblewrap = drv "bubblewrap" { meta.mainProgram = "bwrap"; };
    util-linux = drv "util-linux" { };
    nix = drv "nix" { };
    nixos-container = drv "nixos-container" { };
    claude-code = drv "claude-code" { meta.mainProgram = "claude"; };
    python3Packages = lib.genAttrs pythonPackages (n: drv "python3.12-${n}" { })
      // {
        buildPythonApplication = attrs:
          drv "${attrs.pname}-${attrs.version}" (attrs // { src = storePath "${attrs.pname}-source"; });
      };
    callPackage = fn: overrides:
      let f = if isFunction fn then fn else import fn; in
      f (intersectAttrs (functionArgs f) pkgs // overrides);
  };
  nixosSystem = { modules, specialArgs ? { }, ... }:
    let
      result = lib.evalModules { inherit modules; specialArgs = { inherit pkgs; } // specialArgs; };
      failed = map (a: a.message) (filter (a: !a.assertion) (result.config.assertions or [ ]));
    in
    result // {
      toplevel =
        if failed == [ ] then result.config
        else throw "\nFailed assertions:\n${lib.concatMapStrings (m: "- ${m}\n") failed}";
    };
in
{
  inherit pkgs storePath;
  flake = {
    lib = lib // { inherit nixosSystem; };
    legacyPackages.${system} = pkgs;
    outPath = pkgs.path;
  };
}
