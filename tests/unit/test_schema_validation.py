"""Consumers check each message with a compiled validator and ask jsonschema only about what
it refuses: both must accept and refuse the same messages of every published type, so that
the compiled one lets nothing through that jsonschema, the reference, would refuse."""

import re
from importlib import resources

import pytest
from jsonschema import Draft202012Validator, ValidationError

from shared.publishing import checked_in_schema, compiled_validator, schema_registry, validate_data

TYPE_FILE = re.compile(r"^[a-z]+\.[A-Za-z]+\.v[0-9]+\.json$")  # <service>.<Name>.v<N>.json
SEALED = {"alg": "A256GCM", "kid": "k1", "iv": "bm9uY2U", "ct": "Y2lwaGVy"}
UUID = "6c1d0bb4-5f0e-4a35-9d7e-2f3a8f1a7c11"
VALUES = [
    SEALED,
    "[erased]",
    {**SEALED, "extra": 1},
    {"alg": "A256GCM", "kid": "k1"},
    {**SEALED, "alg": "none"},
    {"enc": "x25519", "ct": "Y2lwaGVy"},
    UUID,
    "not-a-uuid",
    "2026-11-24T12:00:00+00:00",
    17,
    None,
]


def type_schemas() -> list[str]:
    return sorted(
        path.name
        for path in resources.files("shared.schemas").iterdir()
        if TYPE_FILE.match(path.name)
    )


def documents(schema: dict) -> list:
    """Messages' data, valid and not, in the shapes a forger or a bug would send."""
    fields = schema.get("properties", {})
    return [
        {},
        [],
        "data",
        {"unknown": 1},
        *({name: value for name in fields} for value in VALUES),
        {name: SEALED if "$ref" in field else UUID for name, field in fields.items()},
    ]


@pytest.mark.parametrize("filename", type_schemas())
def test_the_compiled_validator_accepts_what_the_reference_accepts(filename):
    service, name, version = filename.removesuffix(".json").split(".")
    number = int(version.removeprefix("v"))
    reference = Draft202012Validator(
        checked_in_schema(filename),
        registry=schema_registry(),
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )
    for document in documents(checked_in_schema(filename)):
        accepted = reference.is_valid(document)
        assert compiled_validator(service, name, number).is_valid(document) == accepted, document
        try:
            validate_data(service, name, number, document)
        except ValidationError:
            assert not accepted, document
        else:
            assert accepted, document
