"""Who may message whom: one rule, enforced on the host, pre-checked by the harness.

Upstream checked allowed recipients only inside the container, where an
agent could route around it. Here the host enforces ``may_message`` on the
socket's identity (``hive_core.routing``); the harness asks the same
function before it sends, so the model reads the reason without a round
trip. Rules: an empty list allows anyone; the manager is always allowed;
``*`` (broadcast) needs ``*`` in the list; the operator may message anyone.
"""

from __future__ import annotations

from collections.abc import Sequence

from hive_kit.names import BROADCAST, MANAGER_ALIAS, OPERATOR


def may_message(
    sender: str,
    allowed: Sequence[str],
    to: str,
    recipients: Sequence[str] = (),
    *,
    manager: str | None = None,
) -> str | None:
    """Why ``sender`` (allowed to reach ``allowed``) may not message ``to``, or None if it may.

    ``recipients`` are the resolved names ``to`` stands for (the host knows
    them; the harness passes none and ``to`` itself is checked). ``manager``
    is the manager's real name, when known, so the alias and the name match.
    """
    if sender == OPERATOR or not allowed:
        return None

    def resolve(name: str) -> str:
        return manager if name == MANAGER_ALIAS and manager else name

    permitted = {resolve(a) for a in allowed} | {MANAGER_ALIAS}
    if manager:
        permitted.add(manager)
    if to == BROADCAST:
        if BROADCAST in permitted:
            return None
    elif all(resolve(r) in permitted for r in (recipients or [to])):
        return None
    listed = ", ".join(allowed)
    if MANAGER_ALIAS not in allowed and (manager is None or manager not in allowed):
        listed += " and the manager"
    who = "everyone ('*')" if to == BROADCAST else repr(to)
    return (
        f"{sender} may not message {who}: your allowed recipients are {listed}. "
        "Send it to the manager instead (to='manager'), saying who it is for and why; "
        "the manager can forward it or propose widening your recipients."
    )
