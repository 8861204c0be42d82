"""The validators every consumer checks messages with accept and refuse what the published
schemas, their references to the shared definitions resolved, accept and refuse."""

import re
from importlib import resources

import pytest
from jsonschema import Draft202012Validator, ValidationError

from shared.publishing import (
    checked_in_schema,
    published_validator,
    schema_registry,
    with_definitions_inlined,
)

TYPE_FILE = re.compile(r"^[a-z]+\.[A-Za-z]+\.v[0-9]+\.json$")  # <service>.<Name>.v<N>.json
SEALED = {"alg": "A256GCM", "kid": "k1", "iv": "bm9uY2U", "ct": "Y2lwaGVy"}
CANDIDATES = [
    SEALED,
    "[erased]",
    {**SEALED, "extra": 1},
    {"alg": "A256GCM", "kid": "k1"},
    {**SEALED, "alg": "none"},
    "in clear",
    17,
    None,
    {"enc": "x25519", "ct": "Y2lwaGVy"},
]


def type_schemas() -> list[str]:
    return sorted(
        path.name
        for path in resources.files("shared.schemas").iterdir()
        if TYPE_FILE.match(path.name)
    )


def referring_fields(schema: dict) -> list[tuple[str, dict]]:
    return [
        (name, field)
        for name, field in schema.get("properties", {}).items()
        if isinstance(field, dict) and "$ref" in field
    ]


def test_every_published_type_refers_to_a_shared_definition_somewhere():
    assert any(referring_fields(checked_in_schema(name)) for name in type_schemas())


@pytest.mark.parametrize("filename", type_schemas())
def test_a_field_with_its_definition_inlined_takes_the_values_its_reference_takes(filename):
    for name, field in referring_fields(checked_in_schema(filename)):
        referring = Draft202012Validator(field, registry=schema_registry())
        inlined = Draft202012Validator(with_definitions_inlined(field))
        assert "$ref" not in inlined.schema, f"{filename} {name} kept its reference"
        for value in CANDIDATES:
            assert inlined.is_valid(value) == referring.is_valid(value), (filename, name, value)


def documents(schema: dict) -> list:
    """Whole messages' data, valid and not, in the shapes a forger or a bug would send."""
    names = list(schema.get("properties", {}))
    uuid = "6c1d0bb4-5f0e-4a35-9d7e-2f3a8f1a7c11"
    return [
        {},
        [],
        "data",
        {"unknown": 1},
        *({name: value for name in names} for value in (SEALED, "[erased]", uuid, 3, None)),
        {name: SEALED if "$ref" in field else uuid for name, field in schema["properties"].items()},
        {name: "not-a-uuid" for name in names},
    ]


@pytest.mark.parametrize("filename", type_schemas())
def test_a_published_type_accepts_what_its_reference_validator_accepts(filename):
    service, name, version = filename.removesuffix(".json").split(".")
    reference = Draft202012Validator(
        checked_in_schema(filename),
        registry=schema_registry(),
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )
    validator = published_validator(service, name, int(version.removeprefix("v")))
    assert validator.compiled is not None, f"{filename} is checked by the reference alone"
    for document in documents(checked_in_schema(filename)):
        try:
            validator.validate(document)
            accepted = True
        except ValidationError:
            accepted = False
        assert accepted == reference.is_valid(document), (filename, document)
        assert validator.compiled.is_valid(document) == accepted, (filename, document)
