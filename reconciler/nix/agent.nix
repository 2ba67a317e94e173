# A regular agent: nothing beyond harness-base.nix yet; kept so every role has a module.
{ ... }:
{
  hyperhive.role = "agent";
}
