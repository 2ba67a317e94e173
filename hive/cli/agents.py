"""`hive agent add|set|remove|list|show`: edit and read agents in desired state."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from desired.changes import coerce_value, split_names
from desired.schema import AgentSpec, DesiredState
from hive.cli.common import AuthorOpt, JsonOpt, StateDirOpt, open_repo, print_json, print_table
from hive.cli.writes import MessageOpt, ProposeOpt, write
from hive_kit.changes import AGENT_FIELDS, AddAgent, ChangeSet, RemoveAgent, SetAgentField
from hive_kit.errors import NotFoundError, UserError

agent_app = typer.Typer(
    help="Add, change, remove and list agents (edits desired state).", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(agent_app, name="agent")


@agent_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="The new agent's name (lowercase, ≤ 11 characters).")],
    model: Annotated[str | None, typer.Option(help="Claude model; default follows hive.json.")] = None,
    role: Annotated[str | None, typer.Option(help="agent or manager.")] = None,
    recipients: Annotated[
        str | None, typer.Option(help="Comma-separated allowed recipients (empty: anyone).")
    ] = None,
    description: Annotated[str | None, typer.Option(help="What this agent is for.")] = None,
    state: Annotated[str | None, typer.Option(help="running or stopped.")] = None,
    propose: ProposeOpt = False,
    message: MessageOpt = None,
    author: AuthorOpt = None,
    state_dir: StateDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add an agent to desired state (the reconciler then creates it)."""
    fields: dict[str, Any] = {"name": name}
    for key, value in (
        ("model", model),
        ("role", role),
        ("description", description),
        ("state", state),
    ):
        if value is not None:
            fields[key] = value
    if recipients is not None:
        fields["allowed_recipients"] = split_names(recipients)
    change = ChangeSet(ops=[AddAgent(agent=fields)])
    write(state_dir, change, author_text=author, message=message, propose=propose, as_json=as_json)


@agent_app.command("set")
def set_field(
    name: Annotated[str, typer.Argument(help="The agent to change.")],
    field: Annotated[str, typer.Argument(help=f"One of: {', '.join(AGENT_FIELDS)}.")],
    value: Annotated[str, typer.Argument(help="New value (JSON for lists/objects/booleans; a,b for lists).")],
    propose: ProposeOpt = False,
    message: MessageOpt = None,
    author: AuthorOpt = None,
    state_dir: StateDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Set one field of an agent, e.g. `hive agent set coder model opus`."""
    if field not in AGENT_FIELDS:
        raise UserError(f"unknown agent field {field!r}; settable fields: {', '.join(AGENT_FIELDS)}")
    op = SetAgentField.model_validate({"name": name, "field": field, "value": coerce_value(field, value)})
    write(
        state_dir,
        ChangeSet(ops=[op]),
        author_text=author,
        message=message,
        propose=propose,
        as_json=as_json,
    )


@agent_app.command("remove")
def remove(
    name: Annotated[str, typer.Argument(help="The agent to remove (its state dir is kept).")],
    propose: ProposeOpt = False,
    message: MessageOpt = None,
    author: AuthorOpt = None,
    state_dir: StateDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Remove an agent from desired state; the reconciler destroys its container and keeps its state."""
    change = ChangeSet(ops=[RemoveAgent(name=name)])
    write(state_dir, change, author_text=author, message=message, propose=propose, as_json=as_json)


def agent_json(state: DesiredState, spec: AgentSpec) -> dict[str, Any]:
    data = spec.model_dump(mode="json")
    data["effective_model"] = state.effective_model(spec.name)
    data["has_agent_nix"] = spec.name in state.agent_nix
    return data


@agent_app.command("list")
def list_agents(state_dir: StateDirOpt = None, as_json: JsonOpt = False) -> None:
    """List the agents in desired state (main)."""
    snap = open_repo(state_dir).load()
    state = snap.state
    if as_json:
        print_json(
            {
                "revision": snap.revision,
                "agents": [agent_json(state, a) for a in state.agents.values()],
            }
        )
        return
    rows = []
    for spec in state.agents.values():
        model = spec.model or f"{state.settings.default_model} (default)"
        flags = "suspended" if spec.suspended else ""
        rows.append(
            [
                spec.name,
                spec.role.value,
                model,
                spec.state.value,
                flags,
                ", ".join(spec.allowed_recipients) or "anyone",
                ", ".join(spec.extra_mcp_servers) or "",
                spec.description if len(spec.description) <= 48 else spec.description[:47] + "…",
            ]
        )
    print_table(
        f"desired state @ {snap.short}",
        ["NAME", "ROLE", "MODEL", "STATE", "FLAGS", "MAY MESSAGE", "EXTRA MCP", "DESCRIPTION"],
        rows,
    )


@agent_app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="The agent to show.")],
    state_dir: StateDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one agent's desired state (and its agent.nix, if any)."""
    snap = open_repo(state_dir).load()
    spec = snap.state.agents.get(name)
    if spec is None:
        raise NotFoundError(f"no agent named {name!r}; `hive agent list` shows the agents")
    data = agent_json(snap.state, spec)
    if as_json:
        data["agent_nix"] = snap.state.agent_nix.get(name)
        print_json(data)
        return
    rows = [[key, json.dumps(value) if not isinstance(value, str) else value] for key, value in data.items()]
    print_table(f"agents/{name}.json @ {snap.short}", ["FIELD", "VALUE"], rows)
    nix = snap.state.agent_nix.get(name)
    if nix:
        from hive.cli.common import console

        console().print(f"\nagents/{name}/agent.nix:\n{nix}", markup=False)
