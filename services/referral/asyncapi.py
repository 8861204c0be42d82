"""The AsyncAPI 3 document of what partners and auditors read and write on Kafka.

It is made from the same declarations as the published JSON Schemas (each service's
:class:`~shared.publishing.EventCatalogue`, and the answers partners send, ``PARTNER_ANSWERS``),
served by the referral service at ``GET /asyncapi.json`` and checked in as
``docs/asyncapi.json`` (``homeward asyncapi`` writes it; a test fails when it is stale).

The operations are the reader's: the application the document describes is a partner's client
(it receives its referrals and its refused answers, and sends its answers) or an auditor's (it
receives the services' event topics). A message's payload is the whole CloudEvent (structured
mode); its ``data`` refers to the type's JSON Schema by a reference relative to the document:
``schemas/<type>``, which the service that serves the document serves too.
"""

from functools import cache
from typing import Any

from services.referral.domain import partner_referrals_topic, partner_replies_topic
from services.referral.messages import PARTNER_ANSWERS, PARTNER_CATALOGUE, PARTNER_RETENTION
from shared.access import AGENCY_CODE_PATTERN
from shared.accesslog import CATALOGUE as ACCESS_CATALOGUE
from shared.catalogues import published_catalogues
from shared.checkpoints import CATALOGUE as CHECKPOINT_CATALOGUE
from shared.deadletters import CONSUMER, READ_FROM_OFFSET, READ_FROM_PARTITION, READ_FROM_TOPIC
from shared.deadletters import REASON as DEAD_LETTER_REASON
from shared.envelope import CONTENT_TYPE, event_source
from shared.kafka import (
    ACCESS_TOPIC,
    AUDITOR,
    CHECKPOINT_TOPIC,
    SERVICES,
    dead_letter_topic,
    event_topic,
)
from shared.partnerbox import ALGORITHM
from shared.publishing import published_schema
from shared.settings import REPO_ROOT, Settings

ASYNCAPI_FILE = REPO_ROOT / "docs" / "asyncapi.json"
SCHEMAS = "schemas/"  # where the published schemas are, relative to the document
# What a partner's topics are named by: its agency code.
AGENCY = "{agency}"
SECURITY = [{"$ref": "#/components/securitySchemes/scramSha512"}]
KAFKA_BINDING_VERSION = "0.5.0"
# The Kafka key of what the platform publishes: one child's history keeps its order.
CASE_KEY = {
    "kafka": {
        "key": {
            "type": "string",
            "format": "uuid",
            "description": "The case id (an access record about no case: its own id).",
        },
        "bindingVersion": KAFKA_BINDING_VERSION,
    }
}


def schema_reference(name: str) -> dict[str, str]:
    """A published schema, by its path relative to the document: ``/schemas/<name>`` beside
    ``/asyncapi.json``."""
    return {"$ref": SCHEMAS + name}


def referenced_schemas(document: Any) -> set[str]:
    """The names of the published schemas a document refers to: what the service that serves
    it serves too."""
    if isinstance(document, list):
        return set().union(*map(referenced_schemas, document))
    if not isinstance(document, dict):
        return set()
    reference = document.get("$ref", "")
    own = {reference.removeprefix(SCHEMAS)} if reference.startswith(SCHEMAS) else set()
    return own.union(*map(referenced_schemas, document.values()))


def envelope_schema() -> dict[str, Any]:
    """The CloudEvent attributes every message carries, in structured mode (the envelope and
    its data in one JSON document)."""
    return {
        "type": "object",
        "description": "A CloudEvent 1.0 in structured JSON mode.",
        "required": ["specversion", "id", "source", "type", "data"],
        "properties": {
            "specversion": {"const": "1.0"},
            "id": {
                "type": "string",
                "minLength": 1,
                "description": "Unique per source. What Homeward publishes: the uuid5 of the "
                "stored event's aggregate id and version, the same on every republication: "
                "de-duplicate on it.",
            },
            "source": {
                "type": "string",
                "minLength": 1,
                "description": "`/homeward/<service>` for what Homeward publishes; "
                "`/partners/<agency>` for a partner's answers.",
            },
            "type": {"type": "string", "description": "`org.homeward.<service>.<Name>.v<N>`."},
            "subject": {
                "type": "string",
                "description": "What the message is about: the case (intake), the referral "
                "(referral and partner messages, and a partner's answer), the follow-up plan "
                "(follow-up). `sequence` increases strictly per subject.",
            },
            "time": {
                "type": "string",
                "format": "date-time",
                "description": "When the event was recorded.",
            },
            "sequence": {
                "type": "string",
                "pattern": "^[0-9]+$",
                "description": "The aggregate's version, zero-padded to 20 digits: sequences "
                "order as strings.",
            },
            "datacontenttype": {"type": "string", "default": "application/json"},
            "dataschema": {
                "type": "string",
                "format": "uri",
                "description": "Where the publishing service serves the data's JSON Schema: "
                "`<service URL>/schemas/<type>`.",
            },
            "partitionkey": {"type": "string", "description": "The Kafka key: the case id."},
            "caseid": {
                "type": "string",
                "format": "uuid",
                "description": "The case the message is about, on every message about a "
                "case (absent from an access record about no case; a message published before "
                "`caseid` existed names its case in `partitionkey`).",
            },
            "signature": {
                "type": "string",
                "description": "The publishing service's Ed25519 signature (base64) over the "
                "message's other attributes and data, as JSON with sorted keys and no spaces: "
                "what lets an auditor who reads only Kafka trust the message. Partners may "
                "ignore it.",
            },
            "data": {"type": "object"},
        },
    }


def message(message_type: str, source: dict[str, Any] | None) -> dict[str, Any]:
    """A message of one type: the envelope, that type, and its data's schema. ``source`` is
    the schema of the publishing services' source attribute, or None for what a partner
    sends."""
    schema = published_schema(message_type)
    specific: dict[str, Any] = {
        "type": "object",
        "required": ["data"],
        "properties": {"type": {"const": message_type}, "data": schema_reference(message_type)},
    }
    described: dict[str, Any] = {
        "name": message_type,
        "title": schema["title"],
        "summary": schema["description"],
        "contentType": CONTENT_TYPE,
        "payload": {"allOf": [{"$ref": "#/components/schemas/CloudEvent"}, specific]},
    }
    if source is None:  # a partner's answer: refused without its envelope's subject and time
        described["payload"]["allOf"].insert(1, schema_reference("partner-answer"))
    else:
        specific["required"] += ["subject", "time", "sequence", "dataschema", "partitionkey"]
        specific["properties"]["source"] = source
        described["headers"] = {
            "type": "object",
            "required": ["content-type"],
            "properties": {"content-type": {"const": CONTENT_TYPE}},
        }
        described["bindings"] = CASE_KEY
    return described


def refused_answer() -> dict[str, Any]:
    """What a partner finds on its replies' dead-letter topic: its own answer, as it was
    sent, with why it was refused."""
    header = {"type": "string"}
    return {
        "name": "RefusedAnswer",
        "title": "An answer refused",
        "summary": "An answer that did not match its schema, concerned another partner's "
        "referral, or made no sense in the referral's state: the record as sent (key, value, "
        "headers), with the reason in the dlq.reason header.",
        "headers": {
            "type": "object",
            "required": [DEAD_LETTER_REASON],
            "properties": {
                DEAD_LETTER_REASON: header,
                READ_FROM_TOPIC: header,
                READ_FROM_PARTITION: header,
                READ_FROM_OFFSET: header,
                CONSUMER: header,
            },
        },
        "payload": {"description": "The answer's bytes, as sent (not always JSON)."},
    }


def channel(
    address: str, description: str, types: list[str], source: dict[str, Any] | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A channel of typed messages, and those messages for the components."""
    messages = {message_type: message(message_type, source) for message_type in types}
    refs = {name: {"$ref": f"#/components/messages/{name}"} for name in messages}
    described: dict[str, Any] = {"address": address, "description": description, "messages": refs}
    if AGENCY in address:
        described["parameters"] = {"agency": {"$ref": "#/components/parameters/agency"}}
    return described, messages


def operation(
    action: str, channel_id: str, reader: str, summary: str, message_names: list[str]
) -> dict[str, Any]:
    return {
        "action": action,
        "channel": {"$ref": f"#/channels/{channel_id}"},
        "summary": summary,
        "tags": [{"name": reader}],
        "messages": [
            {"$ref": f"#/channels/{channel_id}/messages/{name}"} for name in message_names
        ],
    }


@cache
def asyncapi_document() -> dict[str, Any]:
    catalogues = {catalogue.service: catalogue for catalogue in published_catalogues()}
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}

    def add(channel_id: str, described: tuple[dict[str, Any], dict[str, Any]]) -> None:
        channels[channel_id], channel_messages = described
        messages.update(channel_messages)

    retention = f"kept {PARTNER_RETENTION.days} days"
    add(
        "partnerReferrals",
        channel(
            partner_referrals_topic(AGENCY),
            f"What one partner receives ({retention}). Every field that is not a routing id or "
            f'code is sealed to the partner\'s own X25519 public key, `{{"alg": "{ALGORITHM}",'
            ' "ct": "<base64url>"}` (`schemas/partner-sealed-field`): a NaCl sealed box whose '
            "plaintext is the field's JSON value; the `x-plaintext` of each field in the "
            "type's schema says what it holds once opened.",
            PARTNER_CATALOGUE.types,
            {"const": event_source(PARTNER_CATALOGUE.service)},
        ),
    )
    answers = sorted(PARTNER_ANSWERS)
    add(
        "partnerReplies",
        channel(
            partner_replies_topic(AGENCY),
            "What one partner answers. Free text (`reason`, `detail`) is sealed to the "
            "`reply_key` of the referral, in the same sealed-box form; the referral service "
            "de-duplicates answers by `id`.",
            answers,
            None,
        ),
    )
    refused = dead_letter_topic(partner_replies_topic(AGENCY))
    channels["partnerRefusedReplies"] = {
        "address": refused,
        "description": "The partner's answers the referral service refused, with why.",
        "messages": {"RefusedAnswer": {"$ref": "#/components/messages/RefusedAnswer"}},
        "parameters": {"agency": {"$ref": "#/components/parameters/agency"}},
    }
    messages["RefusedAnswer"] = refused_answer()
    for service in SERVICES:
        add(
            f"{service}Events",
            channel(
                event_topic(service),
                f"Every published fact of the {service} service, sealed with the case's key "
                "but for the allow-listed fields (`schemas/sealed-field`); kept for ever, so "
                "earlier versions of a type stay on it beside the current one.",
                catalogues[service].types,
                {"const": event_source(service)},
            ),
        )
    add(
        "accessLog",
        channel(
            ACCESS_TOPIC,
            "Every service's access log: who read, exported or was refused what. No principal "
            "but the services' reads it on Kafka: auditors ask the intake service "
            "(`GET /audit/access`), which keeps it; here for its message's contract.",
            ACCESS_CATALOGUE.types,
            # Each service publishes its own access records.
            {"enum": [event_source(service) for service in SERVICES]},
        ),
    )
    add(
        "chainCheckpoints",
        channel(
            CHECKPOINT_TOPIC,
            "Each service's chain head, at least every minute while it records and when it "
            "stops: what `homeward audit verify` holds a store to (kept for ever).",
            CHECKPOINT_CATALOGUE.types,
            {"enum": [event_source(service) for service in SERVICES]},
        ),
    )
    operations = {
        "receiveReferrals": operation(
            "receive",
            "partnerReferrals",
            "partner",
            "A partner reads its referrals, in consumer groups named `<agency>.<anything>`.",
            PARTNER_CATALOGUE.types,
        ),
        "sendAnswers": operation(
            "send", "partnerReplies", "partner", "A partner answers its referrals.", answers
        ),
        "receiveRefusedAnswers": operation(
            "receive",
            "partnerRefusedReplies",
            "partner",
            "A partner reads which of its answers were refused, and why.",
            ["RefusedAnswer"],
        ),
        **{
            f"audit{service.capitalize()}Events": operation(
                "receive",
                f"{service}Events",
                "auditor",
                f"An auditor (principal {AUDITOR}) replays the {service} service's events "
                "(`homeward audit case`).",
                catalogues[service].types,
            )
            for service in SERVICES
        },
        "receiveCheckpoints": operation(
            "receive",
            "chainCheckpoints",
            "auditor",
            f"An auditor (principal {AUDITOR}) checks each store against its checkpoints "
            "(`homeward audit verify`).",
            CHECKPOINT_CATALOGUE.types,
        ),
    }
    return {
        "asyncapi": "3.0.0",
        "id": "urn:homeward:asyncapi",
        "info": {
            "title": "Homeward on Kafka: partners and auditors",
            "version": "1.0.0",
            "description": "The topics a partner agency or an auditor reads or writes. The "
            "operations are the reader's: a partner receives its referrals and sends its "
            "answers; an auditor receives the services' events. Every message is a CloudEvent "
            "1.0 in structured JSON mode; its `data` follows the JSON Schema of its type, "
            "served at `/schemas/<type>` beside this document. Inside those schemas, "
            "`urn:homeward:schema:<name>` (a `$id`) is served at `/schemas/<name>`.",
            "tags": [
                {"name": "partner", "description": "What a partner agency's client does."},
                {"name": "auditor", "description": "What an auditor's client does."},
            ],
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": servers(),
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": {
                "CloudEvent": envelope_schema(),
                "SealedField": schema_reference("sealed-field"),
                "PartnerSealedField": schema_reference("partner-sealed-field"),
            },
            "messages": dict(sorted(messages.items())),
            "parameters": {
                "agency": {
                    "description": "The partner's agency code, which is also its Kafka "
                    f"principal (pattern `{AGENCY_CODE_PATTERN}`).",
                    "examples": ["SCH-GOMA"],
                }
            },
            "securitySchemes": {
                "scramSha512": {
                    "type": "scramSha512",
                    "description": "SASL/SCRAM-SHA-512: the principal (a partner's agency "
                    "code) and the password its registration gave once.",
                }
            },
        },
    }


def servers() -> dict[str, Any]:
    local_port = Settings.model_fields["local_broker_port"].default
    return {
        "local": {
            "host": f"127.0.0.1:{local_port}",
            "protocol": "kafka",
            "description": "The broker `make run` starts: SASL_PLAINTEXT on loopback.",
            "security": SECURITY,
        },
        "production": {
            "host": "kafka.homeward.example.org:9093",
            "protocol": "kafka-secure",
            "description": "A placeholder: Homeward's operators give the bootstrap servers "
            "and the CA file. SASL_SSL.",
            "security": SECURITY,
        },
    }
