"""Dashboard form bodies, and how each becomes a `ChangeSet` (the one vocabulary of edits).

Validation of the *values* is not done here: `desired.changes` refuses bad
ones with the same `Problem`s the CLI prints, which the browser then shows
next to the form. These models only check the shape of the request.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hive_kit.changes import AGENT_FIELDS, AddAgent, ChangeSet, SetAgentField
from hive_kit.errors import UserError

_FORM = ConfigDict(extra="forbid", str_strip_whitespace=True)
_TEXT_FIELDS = ("role", "model", "state", "description")


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


def split_names(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


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


def coerce_value(field: str, raw: Any) -> Any:
    """A form's text into the JSON value for ``field``, read as `hive agent set` reads its VALUE.

    Non-string values (sent as JSON by the page) pass through unchanged.
    """
    if not isinstance(raw, str):
        return raw
    if field == "model" and raw in ("", "null", "default"):
        return None
    if field in _TEXT_FIELDS:
        return raw
    if field == "allowed_recipients" and not raw.lstrip().startswith("["):
        return split_names(raw)
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw  # the schema says what it expected


def set_field_changes(name: str, form: SetFieldForm) -> ChangeSet:
    if form.field not in AGENT_FIELDS:  # the CLI's own wording, checked before the value
        raise UserError(f"unknown agent field {form.field!r}; settable fields: {', '.join(AGENT_FIELDS)}")
    op = SetAgentField.model_validate(
        {"name": name, "field": form.field, "value": coerce_value(form.field, form.value)}
    )
    return ChangeSet(ops=[op])
