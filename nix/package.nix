# hyperhive as a Nix package: `hive` and `hive-harness`, built from pyproject.toml.
#
# The name, version and Python dependencies are read from pyproject.toml, so the package cannot
# drift from what pip installs: a dependency added there is looked up in python3Packages here
# (a name nixpkgs spells differently goes in `renamed`). nixpkgs' Python libraries may be older
# than pyproject's lower bounds, so the bounds are relaxed; docs/nixos.md says what that means.
# The wrapper puts the host tools the daemon runs on its PATH: git (the meta repo's fetch),
# bubblewrap and setpriv (util-linux) for the local runtime's sandboxes, nix for the nixos
# runtime's nix-instantiate. The Claude Code CLI is not here: the NixOS module passes it in
# HIVE_CLAUDE_BIN (services.hyperhive.claudePackage), and each container gets its own.
{ lib, python3Packages, git, bubblewrap, util-linux, nix }:
let
  pyproject = builtins.fromTOML (builtins.readFile ../pyproject.toml);
  project = pyproject.project;
  renamed = { };
  # "pydantic>=2.13" -> python3Packages.pydantic
  distribution = spec: lib.toLower (builtins.head (builtins.match "[[:space:]]*([A-Za-z0-9._-]+).*" spec));
  attrName = name: renamed.${name} or (builtins.replaceStrings [ "_" "." ] [ "-" "-" ] name);
  dependency = spec:
    let name = attrName (distribution spec); in
    python3Packages.${name} or (throw "hyperhive: pyproject.toml depends on ${spec}, and python3Packages has no ${name}: add it to `renamed` in nix/package.nix");
in
python3Packages.buildPythonApplication {
  pname = project.name;
  inherit (project) version;
  pyproject = true;
  # The whole tree, flake.nix included: services.hyperhive pins the agents' meta flake to this
  # source (its hyperhive input), so the containers run the revision the host runs.
  src = lib.cleanSourceWith {
    name = "hyperhive-source";
    src = ../.;
    filter = path: type: !(builtins.elem (baseNameOf path) [ ".git" ".venv" "node_modules" ".hive" "result" ]);
  };
  build-system = [ python3Packages.setuptools ];
  dependencies = map dependency project.dependencies;
  pythonRelaxDeps = true;
  makeWrapperArgs = [ "--prefix" "PATH" ":" (lib.makeBinPath [ git bubblewrap util-linux nix ]) ];
  # The suite needs root, namespaces, the claude CLI and a browser: it runs from a checkout
  # (scripts/test.sh), not in the build sandbox.
  doCheck = false;
  pythonImportsCheck = [ "hive" "hive_kit" "hive_harness" "reconciler" ];
  meta = {
    description = project.description;
    license = lib.licenses.mit;
    mainProgram = "hive";
    platforms = lib.platforms.linux;
  };
}
