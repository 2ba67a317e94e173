"""Op handlers, one module per area; importing this package fills ``registry.HANDLERS``.

Each handler is ``async (core, caller, request) -> response``: the caller is
already fixed by the socket and the request already validated against
``hive_core.wire``. Authorisation that depends on the object (whose question,
whose reminder) happens here; which ops a socket may call at all is decided
by the connection loop (``hive_core.server``).
"""

from hive_core.ops import admin, agent, asking, managing, messaging, reminding
from hive_core.ops.registry import HANDLERS

__all__ = ["HANDLERS", "admin", "agent", "asking", "managing", "messaging", "reminding"]
