"""The AsyncAPI document of the partners' and auditors' topics: made from the catalogues,
checked in as it is made, valid against the official AsyncAPI 3.0.0 schema (fetched once
into .cache/, see tests/asyncapispec.py), and naming every published type."""

import copy
import json

import pytest
from jsonschema import ValidationError

from services.referral.asyncapi import ASYNCAPI_FILE, asyncapi_document, referenced_schemas
from services.referral.messages import PARTNER_ANSWERS
from shared.catalogues import published_catalogues
from shared.envelope import CloudEvent
from shared.publishing import SHARED_DEFINITIONS, schema_text
from tests.asyncapispec import asyncapi_validator


@pytest.fixture(scope="module")
def validator():
    return asyncapi_validator()


def test_the_checked_in_document_is_the_generated_one():
    """Run `homeward asyncapi` after changing an event: the diff shows the contract change."""
    assert ASYNCAPI_FILE.exists(), "docs/asyncapi.json is missing: run `homeward asyncapi`"
    assert ASYNCAPI_FILE.read_text() == schema_text(asyncapi_document()), (
        "docs/asyncapi.json is stale: run `homeward asyncapi`"
    )


def test_the_document_is_valid_asyncapi_3(validator):
    document = json.loads(ASYNCAPI_FILE.read_text())
    assert document["asyncapi"] == "3.0.0"
    validator.validate(document)


@pytest.mark.parametrize(
    ("breakage", "path"),
    [
        # AsyncAPI 2's word: 3.0.0 knows only send and receive.
        (lambda d: d["operations"]["sendAnswers"].update(action="publish"), "action"),
        (lambda d: d["components"]["securitySchemes"]["scramSha512"].update(type="scram"), "type"),
        (lambda d: d["channels"]["partnerReferrals"].update(address=7), "address"),
    ],
    ids=["operation", "security-scheme", "channel"],
)
def test_the_validator_sees_a_broken_document(validator, breakage, path):
    """The official schema's references resolve: a fault deep inside is found."""
    document = copy.deepcopy(asyncapi_document())
    breakage(document)
    with pytest.raises(ValidationError):
        validator.validate(document)


def test_every_published_type_is_a_message_of_a_channel():
    document = asyncapi_document()
    published = {name for catalogue in published_catalogues() for name in catalogue.types}
    expected = published | set(PARTNER_ANSWERS)
    on_channels = {
        reference["$ref"].removeprefix("#/components/messages/")
        for channel in document["channels"].values()
        for reference in channel["messages"].values()
    }
    assert expected <= on_channels
    assert expected <= set(document["components"]["messages"])
    assert on_channels == set(document["components"]["messages"])
    # Every type's data is its published schema, by reference; so are the sealed fields.
    assert referenced_schemas(document) == expected | set(SHARED_DEFINITIONS)


def test_each_operation_names_the_messages_of_its_own_channel():
    document = asyncapi_document()
    for name, operation in document["operations"].items():
        channel_id = operation["channel"]["$ref"].removeprefix("#/channels/")
        channel = document["channels"][channel_id]
        for reference in operation["messages"]:
            prefix = f"#/channels/{channel_id}/messages/"
            assert reference["$ref"].startswith(prefix), name
            assert reference["$ref"].removeprefix(prefix) in channel["messages"], name
    readers = {tag["name"] for op in document["operations"].values() for tag in op["tags"]}
    assert readers == {"partner", "auditor"}


def test_the_envelope_names_every_cloudevent_attribute():
    envelope = asyncapi_document()["components"]["schemas"]["CloudEvent"]
    assert set(envelope["properties"]) == set(CloudEvent.model_fields)
    assert "caseid" not in envelope["required"]  # optional for now


def test_partner_topics_are_parameterised_by_agency():
    channels = asyncapi_document()["channels"]
    assert channels["partnerReferrals"]["address"] == "homeward.partner.{agency}.referrals"
    assert channels["partnerReplies"]["address"] == "homeward.partner.{agency}.replies"
    assert channels["partnerRefusedReplies"]["address"] == "homeward.partner.{agency}.replies.dlq"
    for channel in channels.values():
        assert ("{agency}" in channel["address"]) == ("parameters" in channel)
