# A regular agent: nothing beyond harness-base.nix yet; kept so every role has a module to grow
# into. It sets no hyperhive.* option: those are read-only views of agent.json (harness-base.nix).
{ ... }:
{
}
