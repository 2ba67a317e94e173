"""The host's side of seed files: ``hive_kit.seeding`` does the placing (the same routine runs in a
pod's init container, where only the kit is installed); this name stays for the reconciler's callers."""

from hive_kit.seeding import Placed, place_seeds

__all__ = ["Placed", "place_seeds"]
