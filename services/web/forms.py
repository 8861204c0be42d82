"""Forms made from the services' own request models, read from their OpenAPI documents.

A step's form is its request model: the same fields, the same required ones, the same
choices (the domain's enumerations), so a field added to a step shows on its form without a
change here and no list of choices is written twice. A field's label and a choice's words are
the model's, humanised, as ``msgid``s of the catalogue (``Entered on``, ``Interim care
centre``), so that every language translates them in its ``.po`` file.

A form posts flat names (``release.date``); :func:`body_of` builds the JSON body back, leaving
out what was left empty (an optional section left wholly empty is no section). What cannot be
entered as a flat field (a dictionary of notes, a list of a child mother's children) is left
to the API.
"""

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

# Dates that name what is planned, not what happened: these alone may be in the future.
FUTURE_DATES = frozenset({"expires_on", "planned_end_on", "until", "due_at"})
# Filled by the service itself, from the caller and the case.
LEFT_TO_THE_SERVICE = frozenset(
    {"version", "registering_agency", "caseworker", "case_id", "referral_id"}
)
# A field a partner may send sealed (on Kafka) or plain: over HTTPS the form sends it plain.
SEALED = "urn:homeward:schema:"
# What a caseworker needs to know to answer, in the forms' words (the models' descriptions
# are written for programmers).
HINTS = {
    "date_of_birth": "Leave it empty when it is not known: the estimated age stands.",
    "estimated_age": "In years; when the date of birth is not known, your best estimate.",
    "recipients": "Agency codes, such as SCH-GOMA; separate several with commas.",
    "languages": "Language codes, such as sw or fr; separate several with commas.",
    "nationality": "Two letters (ISO 3166-1), such as CD, if known.",
}
YES_NO = {"true": "Yes", "false": "No"}
# Choices whose word alone is another msgid's already, meaning something else: "Met" is the
# audit report's heading for a deadline met on a day, not goals met.
OWN_WORDS = {**YES_NO, "met": "Met in full"}
FREE_TEXT_ROWS_FROM = 1000  # characters: a longer field is a text area


@dataclass
class Field:
    name: str  # flat, dotted: release.date
    label: str  # msgid
    kind: str  # text, textarea, date, datetime, number, checkbox, select, choices, list
    required: bool
    choices: list[str] = field(default_factory=list)
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None
    hint: str | None = None
    section: str | None = None  # msgid of the nested object it belongs to
    optional_section: bool = False

    @property
    def in_the_past(self) -> bool:
        return self.kind in ("date", "datetime") and self.name.split(".")[-1] not in FUTURE_DATES


def humanised(name: str) -> str:
    """``planned_end_on`` → ``Planned end on``, ``interim-care/end`` → ``Interim care: end``:
    a label, a choice or a step, as its catalogue's msgid."""
    if name in OWN_WORDS:
        return OWN_WORDS[name]
    # A step under another (interim-care/end) reads as the step, then what of it.
    words = name.replace("_", " ").replace("-", " ").replace("/", ": ").strip()
    return words[:1].upper() + words[1:]


class Schemas:
    """One OpenAPI document's component schemas, with ``$ref``s resolved."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.components: dict[str, Any] = document.get("components", {}).get("schemas", {})
        self.paths: dict[str, Any] = document.get("paths", {})

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = self.components[schema["$ref"].rsplit("/", 1)[-1]]
        return schema

    def request_model(self, path: str) -> dict[str, Any] | None:
        operation = self.paths.get(path, {}).get("post")
        if operation is None:
            return None
        content = operation.get("requestBody", {}).get("content", {})
        schema = content.get("application/json", {}).get("schema")
        return None if schema is None else self.resolve(schema)

    def fields(
        self,
        model: dict[str, Any],
        prefix: str = "",
        section: str | None = None,
        optional: bool = False,
    ) -> list[Field]:
        """The model's fields, flat; a nested model's under its section (``optional``: the
        section may be left out whole, though some of its fields are required in it)."""
        required = set(model.get("required", []))
        found: list[Field] = []
        for name, declared in model.get("properties", {}).items():
            if name in LEFT_TO_THE_SERVICE:
                continue
            alternatives = declared.get("anyOf") or declared.get("oneOf") or [declared]
            options = [
                self.resolve(option)
                for option in alternatives
                if not str(option.get("$ref", "")).startswith(SEALED)
            ]
            present = [option for option in options if option.get("type") != "null"]
            if len(present) != 1:
                continue
            schema = {
                **present[0],
                **{k: v for k, v in declared.items() if k not in ("anyOf", "oneOf")},
            }
            schema = {**self.resolve(schema), **{k: v for k, v in schema.items() if k != "$ref"}}
            flat = f"{prefix}{name}"
            if schema.get("type") == "object" and "properties" in schema:
                found += self.fields(schema, f"{flat}.", humanised(name), name not in required)
                continue
            made = self._field(flat, name, schema, nullable=len(options) > 1)
            if made is not None:
                made.required, made.section, made.optional_section = (
                    name in required,
                    section,
                    optional,
                )
                found.append(made)
        return found

    def _field(self, flat: str, name: str, schema: dict[str, Any], nullable: bool) -> Field | None:
        kind: str | None = None
        choices: list[str] = []
        kind_of = schema.get("type")
        if "enum" in schema:
            kind, choices = "select", [str(choice) for choice in schema["enum"]]
        elif kind_of == "string":
            form = schema.get("format")
            long = schema.get("maxLength", 0) >= FREE_TEXT_ROWS_FROM
            kind = {"date": "date", "date-time": "datetime"}.get(
                form or "", "textarea" if long else "text"
            )
        elif kind_of == "integer":
            kind = "number"
        elif kind_of == "boolean" and nullable:
            kind, choices = "select", ["true", "false"]  # and unknown: left empty
        elif kind_of == "boolean":
            kind = "checkbox"
        elif kind_of == "array":
            items = self.resolve(schema.get("items", {}))
            if "enum" in items:
                kind, choices = "choices", [str(choice) for choice in items["enum"]]
            elif items.get("type") == "string":
                kind = "list"
        if kind is None:
            return None
        return Field(
            name=flat,
            label=humanised(name),
            kind=kind,
            required=False,
            choices=choices,
            minimum=schema.get("minimum"),
            maximum=schema.get("maximum"),
            max_length=schema.get("maxLength"),
            hint=HINTS.get(name),
        )


def body_of(fields: list[Field], form: dict[str, list[str]]) -> dict[str, Any]:
    """The JSON body the form's answers make; empty answers are left out."""
    body: dict[str, Any] = {}
    for spec in fields:
        values = [value.strip() for value in form.get(spec.name, []) if value.strip()]
        value: Any
        if spec.kind == "choices":
            value = values or None
        elif spec.kind == "list":
            value = [part.strip() for part in ",".join(values).split(",") if part.strip()] or None
        elif spec.kind == "checkbox":
            # Unticked is "no" where the model asks for an answer; elsewhere it is left out,
            # so that an optional section left alone stays out whole.
            answered = values or (spec.required and not spec.optional_section)
            value = bool(values) if answered else None
        elif not values:
            value = None
        elif spec.kind == "number":
            value = int(values[0]) if re.fullmatch(r"-?\d{1,9}", values[0]) else values[0]
        elif spec.kind == "datetime":
            # datetime-local has no zone: the forms say the time is UTC.
            value = values[0] if re.search(r"(Z|[+-]\d\d:\d\d)$", values[0]) else f"{values[0]}:00Z"
        else:
            value = values[0]
        if value is not None:
            _put(body, spec.name, value)
    return body


def _put(body: dict[str, Any], name: str, value: Any) -> None:
    *parents, last = name.split(".")
    for parent in parents:
        body = body.setdefault(parent, {})
    body[last] = value


def dates_in_the_future(fields: list[Field], body: dict[str, Any], today: date) -> list[str]:
    """The fields whose date has not happened yet, though they record what happened."""
    late = []
    for spec in fields:
        value = _get(body, spec.name)
        if not spec.in_the_past or not isinstance(value, str):
            continue
        try:
            day = (
                datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC).date()
                if spec.kind == "datetime"
                else date.fromisoformat(value)
            )
        except ValueError:
            continue  # the service says what is wrong with it
        if day > today:
            late.append(spec.name)
    return late


def _get(body: dict[str, Any], name: str) -> Any:
    value: Any = body
    for part in name.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value
