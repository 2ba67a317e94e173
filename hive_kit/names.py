"""Names and roles: who is who, spelt once for the host, the harness and desired state.

An agent name is the one identifier that is a file name, a socket name and a
container name. ``Role`` is the one type for "what may this caller do": an
agent, the manager (an agent with more tools) or the operator (the human).

nixos-container refuses names longer than 11 characters when private
networking is on (the name becomes a network interface ``ve-<name>``), so the
limit is 11 including the prefix hyperhive adds to container names. The local
runtime uses the same names so a swarm moves between runtimes unchanged.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import NewType

AgentName = NewType("AgentName", str)
ProposalId = NewType("ProposalId", int)


class Role(StrEnum):
    """Who a caller is. Agents in desired state are AGENT or MANAGER; OPERATOR is the human."""

    AGENT = "agent"
    MANAGER = "manager"
    OPERATOR = "operator"


CONTAINER_PREFIX = ""
"""Prepended to agent names to form container names (kept empty: the whole budget goes to the name)."""

MAX_CONTAINER_NAME = 11
MAX_NAME_LENGTH = MAX_CONTAINER_NAME - len(CONTAINER_PREFIX)

MANAGER_ALIAS = "manager"
"""What anyone may call the manager instead of its name."""
OPERATOR = "operator"
SYSTEM = "system"
"""The sender of messages the host itself writes (reminders, notices)."""
BROADCAST = "*"
RESERVED_NAMES = frozenset({OPERATOR, SYSTEM, BROADCAST, "hyperhive"})
"""Names no agent may take: they are senders or recipients with a meaning of their own."""

_NAME_RE = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be an agent name, or None if it can."""
    if name in RESERVED_NAMES:
        return f"{name!r} is reserved for hyperhive itself"
    if not name:
        return "the name is empty"
    if len(name) > MAX_NAME_LENGTH:
        return (
            f"{name!r} is {len(name)} characters; names are at most {MAX_NAME_LENGTH} "
            f"so they fit nixos-container's {MAX_CONTAINER_NAME}-character limit"
        )
    if not _NAME_RE.fullmatch(name):
        return (
            f"{name!r} is not a valid name: use lowercase letters, digits and single hyphens, "
            "starting with a letter and not ending with a hyphen"
        )
    return None


NAME_FIX = "pick a name like 'coder' or 'web-2': lowercase, starts with a letter, at most 11 characters"
