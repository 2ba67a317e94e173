"""Dashboard form bodies, and how each becomes a `ChangeSet` (the one vocabulary of edits).

Validation of the *values* is not done here: a typed value is read as `hive
agent set` reads it (``desired.changes.coerce_value``), and `desired.changes`
refuses bad ones with the same `Problem`s the CLI prints, which the browser then shows
next to the form. These models only check the shape of the request.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from desired.changes import coerce_value, split_names
from hive_kit.changes import AGENT_FIELDS, AddAgent, ChangeSet, SetAgentField
from hive_kit.errors import UserError

_FORM = ConfigDict(extra="forbid", str_strip_whitespace=True)


class AddAgentForm(BaseModel):
    model_config = _FORM
    name: str = Field(max_length=200)
    model: str = Field(default="", max_length=200)
    role: str = Field(default="", max_length=50)
    description: str = Field(default="", max_length=4000)
    recipients: str = Field(default="", max_length=4000, description="Comma-separated names.")
    state: str = Field(default="", max_length=50)
    message: str = Field(default="", max_length=2000)


class SetFieldForm(BaseModel):
    model_config = _FORM
    field: str = Field(max_length=100)
    value: Any = None
    message: str = Field(default="", max_length=2000)


class DenyForm(BaseModel):
    model_config = _FORM
    note: str = Field(default="", max_length=4000)


class ApproveForm(BaseModel):
    model_config = _FORM
    note: str = Field(default="", max_length=4000)


def add_agent_changes(form: AddAgentForm) -> ChangeSet:
    """The same fields `hive agent add` sends: only the ones the operator filled in."""
    fields: dict[str, Any] = {"name": form.name}
    for key in ("model", "role", "description", "state"):
        value = getattr(form, key)
        if value:
            fields[key] = value
    if form.recipients:
        fields["allowed_recipients"] = split_names(form.recipients)
    return ChangeSet(ops=[AddAgent(agent=fields)])


def set_field_changes(name: str, form: SetFieldForm) -> ChangeSet:
    if form.field not in AGENT_FIELDS:  # the CLI's own wording, checked before the value
        raise UserError(f"unknown agent field {form.field!r}; settable fields: {', '.join(AGENT_FIELDS)}")
    op = SetAgentField.model_validate(
        {"name": name, "field": form.field, "value": coerce_value(form.field, form.value)}
    )
    return ChangeSet(ops=[op])
