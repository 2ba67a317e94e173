"""Who may message whom: pure functions over desired state, enforced on the host.

Upstream checked allowed recipients only inside the container, where an agent
could route around it; here the check runs in the daemon on the socket's
identity. Rules: an empty list allows anyone; the manager is always allowed;
``*`` (broadcast) needs ``*`` in the list; the operator may message anyone.
"""

from __future__ import annotations

from desired.schema import DesiredState
from hive_core.errors import ForbiddenError, NotFoundError, UserError
from hive_core.wire import BROADCAST, OPERATOR


def known_names(state: DesiredState) -> str:
    names = ["manager", OPERATOR, BROADCAST, *(n for n in state.agents if state.agents[n].role != "manager")]
    return ", ".join(names)


def resolve_recipients(state: DesiredState, sender: str, to: str) -> list[str]:
    """The stored recipient names for ``to`` (the manager alias resolved, ``*`` expanded)."""
    if to == OPERATOR:
        if sender == OPERATOR:
            raise UserError("the operator cannot message the operator; pick an agent, 'manager' or '*'")
        return [OPERATOR]
    if to == BROADCAST:
        return [name for name in sorted(state.agents) if name != sender]
    name = state.resolve_recipient(to)
    if name not in state.agents:
        raise NotFoundError(f"no agent named {to!r}; you can message: {known_names(state)}")
    if name == sender:
        raise UserError("you cannot message yourself; use remind() to leave yourself a note")
    return [name]


def refusal(state: DesiredState, sender: str, to: str, recipients: list[str]) -> str | None:
    """Why ``sender`` may not message ``to``, or None if it may."""
    if sender == OPERATOR:
        return None
    spec = state.agents.get(sender)
    if spec is None or not spec.allowed_recipients:
        return None
    allowed = {state.resolve_recipient(a) for a in spec.allowed_recipients}
    manager = state.manager()
    if manager is not None:
        allowed.add(manager.name)
    if BROADCAST in allowed if to == BROADCAST else all(r in allowed for r in recipients):
        return None
    listed = ", ".join(spec.allowed_recipients)
    if manager is not None and manager.name not in spec.allowed_recipients and "manager" not in listed:
        listed += " and the manager"
    return (
        f"{sender} may not message {to!r}: your allowed recipients are {listed}. "
        "Send it to the manager instead (to='manager') and ask it to pass it on."
    )


def check_allowed(state: DesiredState, sender: str, to: str, recipients: list[str]) -> None:
    why = refusal(state, sender, to, recipients)
    if why is not None:
        raise ForbiddenError(why)
