# The host side of one agent's nixos-container: its settings under the names nixpkgs'
# `containers.<name>` options use (nixos/modules/virtualisation/nixos-containers.nix), and `conf`,
# the lines of /etc/nixos-containers/<name>.conf they amount to, generated the way that module
# generates a declarative container's conf. Plain Nix, no nixpkgs: the nixos runtime evaluates
# the rendered agents/<name>/container.nix with `nix-instantiate --eval` before every create,
# update and start and writes `conf` over what `nixos-container create` wrote; the tests
# evaluate the same file.
#
# No network but loopback. `nixos-container create` always writes PRIVATE_NETWORK=1 with a
# HOST_ADDRESS/LOCAL_ADDRESS pair (a veth to the host); container@.service passes
# `--private-network` for PRIVATE_NETWORK=1 and adds `--network-veth` only when one of
# HOST_ADDRESS, LOCAL_ADDRESS, HOST_ADDRESS6, LOCAL_ADDRESS6 is non-empty, `--network-bridge`
# for HOST_BRIDGE, `--port` for HOST_PORT, `--network-interface`/`--network-macvlan` for
# INTERFACES/MACVLANS and `--network-namespace-path` for NETWORK_NAMESPACE_PATH. So loopback
# only is privateNetwork = true with hostAddress, localAddress, hostAddress6, localAddress6,
# hostBridge and networkNamespace null, forwardPorts, interfaces and macvlans empty: all of
# them are set here, and the runtime drops every other line of the old conf but FLAKE and
# AUTO_START.
#
# No user namespace (privateUsers = "no"): the agent's harness runs as its allocated uid, the same
# number on the host, so what the daemon chowns to that uid is the agent's in both runtimes.
{ name, stateDir, runDir, configFile, metaView ? null, metaRepo ? null }:
let
  # Host paths end up in an EnvironmentFile value and in nspawn's --bind=SRC:DST syntax.
  safePath = what: path:
    if builtins.match "/[A-Za-z0-9._/+-]*" path != null then path
    else throw "hyperhive: agent ${name}: ${what} ${path} has characters a container bind cannot carry";
  bind = hostPath: isReadOnly: mountPoint: {
    hostPath = safePath "host path" hostPath;
    inherit isReadOnly mountPoint;
  };
  settings = {
    privateNetwork = true;
    hostAddress = null;
    localAddress = null;
    hostAddress6 = null;
    localAddress6 = null;
    hostBridge = null;
    networkNamespace = null;
    forwardPorts = [ ];
    interfaces = [ ];
    macvlans = [ ];
    privateUsers = "no";
    bindMounts = {
      "/state" = bind stateDir false "/state";
      "/run/hive" = bind runDir false "/run/hive"; # hive.sock, egress.sock, model.sock, page/
      "/etc/hyperhive/agent.json" = bind configFile true "/etc/hyperhive/agent.json";
    } // (if metaView == null then { } else {
      # the manager only: a read-only view of the meta repo (HEAD, config) with its objects and
      # refs, never its config, hooks or FETCH_HEAD (docs/security.md)
      "/meta.git" = bind metaView true "/meta.git";
      "/meta.git/objects" = bind "${metaRepo}/objects" true "/meta.git/objects";
      "/meta.git/refs" = bind "${metaRepo}/refs" true "/meta.git/refs";
    });
    extraFlags = [ ];
  };
  line = cond: text: if cond then text + "\n" else "";
  portStr = p:
    "${p.protocol}:${toString p.hostPort}:${toString (if p.containerPort == null then p.hostPort else p.containerPort)}";
  bindFlag = d:
    (if d.isReadOnly then "--bind-ro=" else "--bind=")
    + (if d.hostPath != null then "${d.hostPath}:${d.mountPoint}" else d.mountPoint);
  net = settings.privateNetwork;
  conf = builtins.concatStringsSep "" [
    (line net "PRIVATE_NETWORK=1")
    (line (net && settings.hostBridge != null) "HOST_BRIDGE=${settings.hostBridge}")
    (line (net && settings.forwardPorts != [ ])
      "HOST_PORT=${builtins.concatStringsSep "," (map portStr settings.forwardPorts)}")
    (line (net && settings.hostAddress != null) "HOST_ADDRESS=${settings.hostAddress}")
    (line (net && settings.hostAddress6 != null) "HOST_ADDRESS6=${settings.hostAddress6}")
    (line (net && settings.localAddress != null) "LOCAL_ADDRESS=${settings.localAddress}")
    (line (net && settings.localAddress6 != null) "LOCAL_ADDRESS6=${settings.localAddress6}")
    (line (settings.networkNamespace != null) "NETWORK_NAMESPACE_PATH=${settings.networkNamespace}")
    "PRIVATE_USERS=${toString settings.privateUsers}\n"
    "INTERFACES=\"${toString settings.interfaces}\"\n"
    "MACVLANS=\"${toString settings.macvlans}\"\n"
    "EXTRA_NSPAWN_FLAGS=\"${builtins.concatStringsSep " "
      (map bindFlag (builtins.attrValues settings.bindMounts) ++ settings.extraFlags)}\"\n"
  ];
in
settings // { inherit conf; }
