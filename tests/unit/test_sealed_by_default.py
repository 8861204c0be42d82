"""Sealed by default: every field of every event about a child is sealed unless the one
allow-list names it; published schemas are generated from the declarations; every event with
sealed fields resolves to a case, or is refused."""

import json
import types
import typing
import uuid
from datetime import UTC, date, datetime

import pytest
from eventsourcing.domain import Aggregate

from services.followup.domain import FollowUpPlan
from services.intake.domain import AgencyCaseCounter, ChildCase
from services.referral.domain import Partner, Referral
from shared.accesslog import AccessRecord
from shared.allowlist import CLEAR_FIELDS, LIBRARY_FIELDS, is_clear
from shared.application import ServiceApplication
from shared.checkpoints import ChainCheckpointed
from shared.cli import published_catalogues
from shared.partnerbox import PARTNER_SEALED_FIELD_URI
from shared.privacy import UnresolvableCase, about_a_child
from shared.publishing import SCHEMA_FOLDER, SEALED_FIELD_URI, schema_text

AGGREGATES = (ChildCase, AgencyCaseCounter, Referral, Partner, FollowUpPlan, AccessRecord)
# Events that hold nothing about a child, each for a reason a reviewer can check here.
NOT_ABOUT_A_CHILD = {
    AgencyCaseCounter.Event: "counts an agency's cases",
    Partner.Event: "an agency and the services it offers",
    AccessRecord.AccessRecorded: "who opened or was refused what: staff, a route, a case id",
    ChainCheckpointed: "a service's event chain: a position and hashes",
}


def event_classes(aggregate: type) -> list[type]:
    return [
        value
        for value in vars(aggregate).values()
        if isinstance(value, type)
        and issubclass(value, Aggregate.Event)
        and value.__name__ != "Event"
    ]


def declared_fields(event_class: type) -> list[str]:
    return [
        name
        for name, hint in typing.get_type_hints(event_class).items()
        if name not in LIBRARY_FIELDS and typing.ClassVar not in (hint, typing.get_origin(hint))
    ]


@pytest.mark.parametrize("aggregate", AGGREGATES, ids=lambda a: a.__name__)
def test_every_event_is_about_a_child_unless_its_aggregate_says_why_not(aggregate):
    classes = event_classes(aggregate)
    assert classes
    for event_class in classes:
        named = any(issubclass(event_class, cleared) for cleared in NOT_ABOUT_A_CHILD)
        assert about_a_child(event_class) == (not named), event_class


def test_the_allow_list_is_short_and_names_only_ids_stage_agency_and_staff():
    assert len(CLEAR_FIELDS) <= 40
    for name, field in CLEAR_FIELDS.items():
        assert field.why, name
        assert name.endswith(("_id", "_ids", "_by", "agency", "_number", "_reason", "_cause")) or (
            # deleted_on: when a partner deleted a referral's data, no date of the child's life
            name in {"stage", "caseworker", "deleted_on"}
        ), f"{name} is neither an id, a stage, an agency, a staff id nor a coded reason"


@pytest.mark.parametrize("catalogue", published_catalogues(), ids=lambda c: c.service)
def test_every_published_field_is_sealed_or_allow_listed(catalogue):
    """The published schemas, as checked in: each property of a message about a child is a
    sealed field (with the case's key, or to the partner's own key on a partner's topic) or
    one the allow-list names (and is then described as clear)."""
    sealed_ref = PARTNER_SEALED_FIELD_URI if catalogue.service == "partner" else SEALED_FIELD_URI
    assert catalogue.sealed_field.uri == sealed_ref
    for entry, filename in zip(catalogue.published, catalogue.generated_schemas(), strict=True):
        schema = json.loads((SCHEMA_FOLDER / filename).read_text())
        for name, field in schema["properties"].items():
            if is_clear(name) or entry.event_class in NOT_ABOUT_A_CHILD:
                assert "$ref" not in field, (filename, name)
            else:
                assert field["$ref"] == sealed_ref, (filename, name)


SAMPLES = {str: "sample", int: 7, bool: True, uuid.UUID: uuid.uuid4(), dict: {"k": "v"}}


def sample(hint):
    """A value of a declared type (the first type of an optional one)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return sample(typing.get_args(hint)[0])
    if origin in (list, tuple):
        return [sample(typing.get_args(hint)[0])]
    if origin is dict or hint is typing.Any:
        return {"k": "v"}
    if hint is datetime:
        return datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    if hint is date:
        return date(2026, 1, 2)
    return SAMPLES[hint]


@pytest.mark.parametrize("aggregate", AGGREGATES, ids=lambda a: a.__name__)
def test_the_store_holds_every_field_sealed_but_the_allow_listed(aggregate, case_keys):
    """Every event class, every field: stored sealed unless allow-listed, whatever it is."""
    app = application(case_keys)
    case_id = uuid.uuid4()
    for event_class in event_classes(aggregate):
        hints = typing.get_type_hints(event_class)
        values = {name: sample(hints[name]) for name in declared_fields(event_class)}
        if "case_id" in values:
            values["case_id"] = case_id
        library = {
            "originator_id": case_id,
            "originator_version": 1,
            "timestamp": datetime.now(UTC),
        }
        if "originator_topic" in hints:
            library["originator_topic"] = "tests:Aggregate"
        event = event_class(**library, **values)
        stored = json.loads(app.mapper.to_stored_event(event).state)
        for name in values:
            sealed = isinstance(stored[name], dict) and stored[name].get("alg") == "A256GCM"
            expected = about_a_child(event_class) and not is_clear(name)
            assert sealed == expected, (event_class.__qualname__, name)


@pytest.mark.parametrize("catalogue", published_catalogues(), ids=lambda c: c.service)
def test_checked_in_schemas_are_the_generated_ones(catalogue):
    """Run `homeward schemas` after changing an event: the diff shows the contract change."""
    for filename, schema in catalogue.generated_schemas().items():
        path = SCHEMA_FOLDER / filename
        assert path.exists(), f"{filename} is missing: run `homeward schemas`"
        assert path.read_text() == schema_text(schema), (
            f"{filename} is stale: run `homeward schemas`"
        )


class Orphan(Aggregate):
    """An aggregate about a child that forgot to name its case."""

    class Noted(Aggregate.Event):
        remark: str

    def __init__(self) -> None:
        pass

    def note(self, remark: str) -> None:
        self.trigger_event(self.Noted, remark=remark)


class Followed(Aggregate):
    class Started(Aggregate.Created):
        case_id: uuid.UUID

    class Noted(Aggregate.Event):
        remark: str

    def __init__(self, case_id: uuid.UUID) -> None:
        self.case_id = case_id

    def note(self, remark: str) -> None:
        self.trigger_event(self.Noted, remark=remark)


def application(case_keys, env=None) -> ServiceApplication:
    env = env or {"PERSISTENCE_MODULE": "eventsourcing.popo"}
    return ServiceApplication(env, lambda: datetime.now(UTC), case_keys)


def test_an_event_with_sealed_fields_and_no_case_is_refused_and_makes_no_key(case_keys):
    app = application(case_keys)
    orphan = Orphan()
    orphan.note("a remark about a child")
    with pytest.raises(UnresolvableCase, match="names no case"):
        app.save(orphan)
    assert app.recorder.select_events(orphan.id) == []
    with pytest.raises(KeyError):
        case_keys.keyring.unwrap(orphan.id, service="test", purpose="test")


def test_later_events_inherit_the_case_their_creation_event_names(case_keys, sqlite_env):
    case_id = uuid.uuid4()
    followed = Followed(case_id)
    application(case_keys, sqlite_env).save(followed)
    # Another process: nothing remembered, so the creation event is read from the store.
    restarted = application(case_keys, sqlite_env)
    loaded = restarted.repository.get(followed.id)
    loaded.note("after a restart")
    restarted.save(loaded)
    (noted,) = restarted.recorder.select_events(followed.id, gt=1)
    assert b"after a restart" not in noted.state
    assert restarted.case_of(restarted.mapper.to_domain_event(noted)) == case_id
    assert restarted.repository.get(followed.id).version == 2
    # Sealed with the case's own key, and no key was made for the aggregate itself.
    assert case_keys.for_opening(case_id, "test") is not None
    with pytest.raises(KeyError):
        case_keys.keyring.unwrap(followed.id, service="test", purpose="test")
