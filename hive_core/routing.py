"""Resolving recipients over desired state, and enforcing the kit's ``may_message`` on the host.

The rule itself is ``hive_kit.routing.may_message`` (the harness pre-checks
with it); this module adds what only the host knows: which names exist, the
manager's real name, and who ``*`` expands to.
"""

from __future__ import annotations

from desired.schema import DesiredState
from hive_kit.errors import ForbiddenError, NotFoundError, UserError
from hive_kit.names import BROADCAST, MANAGER_ALIAS, OPERATOR, Role
from hive_kit.routing import may_message


def known_names(state: DesiredState) -> str:
    names = [MANAGER_ALIAS, OPERATOR, BROADCAST]
    names += [n for n, spec in state.agents.items() if spec.role is not Role.MANAGER]
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


def check_allowed(state: DesiredState, sender: str, to: str, recipients: list[str]) -> None:
    spec = state.agents.get(sender)
    manager = state.manager()
    why = may_message(
        sender,
        spec.allowed_recipients if spec is not None else (),
        to,
        recipients,
        manager=manager.name if manager is not None else None,
    )
    if why is not None:
        raise ForbiddenError(why)
