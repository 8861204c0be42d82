"""Bad input to `POST /cases` gets a 4xx that says what to fix, and records nothing; a retry
with an `Idempotency-Key` after a lost answer registers the child once."""

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from services.intake.service import build_runtime, create_app
from tests.samples import boy_formally_released, registration
from tests.signin import staff_headers, supervisor_headers

FIXED_NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def intake(settings, sqlite_env):
    runtime = build_runtime(settings, sqlite_env, clock=lambda: FIXED_NOW)
    yield runtime, TestClient(create_app(runtime), headers=staff_headers(runtime.settings))
    runtime.application.close()


def without(field: str) -> dict:
    body = registration()
    del body[field]
    return body


BAD_BODIES = {
    "missing sex": (without("sex"), 422, "sex: Field required"),
    "missing release": (without("release"), 422, "release: Field required"),
    "impossible date": (
        registration(release={"date": "2026-02-30", "place": "Uvira", "how_left": "escape"}),
        422,
        "release.date",
    ),
    "release in the future": (
        registration(release={"date": "2026-12-01", "place": "Uvira", "how_left": "escape"}),
        422,
        "release.date is in the future",
    ),
    "handover before release": (
        registration(
            handover={"from_actor": "FARDC", "to_agency": "CD-KIN", "at": "2026-10-01T08:00:00Z"}
        ),
        422,
        "handover.at is before the release date",
    ),
    "handover without a time zone": (
        registration(
            handover={"from_actor": "FARDC", "to_agency": "CD-KIN", "at": "2026-10-04T08:00:00"}
        ),
        422,
        "handover.at",
    ),
    "unknown kind of group": (
        registration(armed_group={"name": "X", "kind": "gang"}),
        422,
        "armed_group.kind",
    ),
    "unknown way of leaving": (
        registration(release={"date": "2026-10-03", "place": "Uvira", "how_left": "deserted"}),
        422,
        "release.how_left",
    ),
    "age out of range": (registration(estimated_age=2), 422, "estimated_age"),
    "unexpected field": (registration(name_of_father="x"), 422, "name_of_father"),
    "nationality no country has": (
        registration(nationality="XK1"),
        422,
        "nationality",
    ),
    "nationality of the right shape but assigned to no country": (
        registration(nationality="ZZ"),
        422,
        "'ZZ' is not an assigned ISO 3166-1 alpha-2 country code",
    ),
    "agency code malformed": (
        registration(registering_agency="kinshasa office"),
        422,
        "registering_agency",
    ),
    "negative hours in custody": (
        registration(
            handover={
                "from_actor": "FARDC",
                "to_agency": "CD-KIN",
                "at": "2026-10-04T08:00:00Z",
                "custody_hours": -1,
            }
        ),
        422,
        "handover.custody_hours",
    ),
    "more hours in custody than since the release day": (
        registration(
            handover={
                "from_actor": "FARDC",
                "to_agency": "CD-KIN",
                "at": "2026-10-04T08:00:00Z",
                "custody_hours": 40,
            }
        ),
        422,
        "handover.custody_hours: 40 hours in custody is more than the 32 hours",
    ),
    "capture or surrender, undecided": (
        registration(
            release={"date": "2026-10-03", "place": "Uvira", "how_left": "capture_or_surrender"}
        ),
        422,
        "'capture_or_surrender' is no longer recorded: choose 'capture' or 'surrender'",
    ),
    "the free-text account, gone": (
        registration(account="what the child told"),
        422,
        "account",
    ),
    "a note over 500 characters": (
        registration(notes={"health": "x" * 501}),
        422,
        "notes.health",
    ),
    "a note for no known purpose": (
        registration(notes={"debrief": "which commander"}),
        422,
        "notes.debrief",
    ),
    "separation from adults, neither yes, no nor null": (
        registration(
            release={
                "date": "2026-10-03",
                "place": "Uvira",
                "how_left": "escape",
                "separated_from_adults": "sometimes",
            }
        ),
        422,
        "release.separated_from_adults",
    ),
}


@pytest.mark.parametrize(("body", "status", "message"), BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_bad_registration_is_refused_with_a_clear_message(intake, body, status, message):
    runtime, client = intake
    response = client.post("/cases", json=body)
    assert response.status_code == status
    assert message in response.json()["detail"]
    assert not runtime.application.recorder.max_notification_id()


def test_a_ten_megabyte_body_is_refused_unread(intake):
    runtime, client = intake
    body = registration(caseworker="x" * (10 * 1024 * 1024))
    response = client.post("/cases", json=body)
    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]
    assert not runtime.application.recorder.max_notification_id()


def test_malformed_json_is_refused(intake):
    runtime, client = intake
    response = client.post(
        "/cases", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert "JSON" in response.json()["detail"]
    assert not runtime.application.recorder.max_notification_id()


def test_a_valid_registration_is_recorded_and_readable(intake):
    _runtime, client = intake
    created = client.post("/cases", json=registration())
    assert created.status_code == 201
    case = client.get(f"/cases/{created.json()['case_id']}").json()
    assert case["version"] == 2
    assert case["handover"]["to_agency"] == "CD-KIN"
    assert client.get("/cases/00000000-0000-0000-0000-000000000000").status_code == 404


def test_a_registration_records_notes_separation_and_the_needs_found(intake):
    _runtime, client = intake
    body = registration(
        needs_assessment={
            "needs": ["health", "education"],
            "flags": ["separated"],
            "assessed_on": "2026-10-04",
        }
    )
    body["release"]["how_left"] = "surrender"
    body["handover"] |= {"protocol": "Handover protocol of 2013", "custody_hours": 20}
    created = client.post("/cases", json=body)
    assert created.status_code == 201, created.text
    case = created.json()
    assert case["version"] == 3  # ChildRegistered, HandedOver, NeedsAssessed
    assert case["how_left"] == "surrender"
    assert case["separated_from_adults"] is True
    assert case["handover"]["protocol"] == "Handover protocol of 2013"
    assert case["handover"]["custody_hours"] == 20
    assert case["notes"] == registration()["notes"]
    assert case["journey"]["needs"] == ["health", "education"]
    assert case["journey"]["protection_flags"] == ["separated"]


def test_a_direct_return_is_refused_as_interim_care_with_422_naming_reunification(intake):
    _runtime, client = intake
    case = client.post("/cases", json=registration()).json()
    placed = client.post(
        f"/cases/{case['case_id']}/interim-care",
        json={
            "version": case["version"],
            "kind": "direct_return",
            "carer": "Mama Furaha",
            "entered_on": "2026-10-04",
        },
    )
    assert placed.status_code == 422
    assert "a direct return is recorded with `reunification`" in placed.json()["detail"]
    assert client.get(f"/cases/{case['case_id']}").json()["version"] == case["version"]


def test_the_openapi_describes_the_vocabularies(intake):
    _runtime, client = intake
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert "capture" in schemas["HowLeft"]["enum"]
    assert "surrender" in schemas["HowLeft"]["enum"]
    assert (
        "choose 'capture' or 'surrender'"
        in schemas["ReleaseIn"]["properties"]["how_left"]["description"]
    )
    assert set(schemas["NotePurpose"]["enum"]) >= {"care", "health", "family_tracing"}
    assert "account" not in schemas["ChildRegistration"]["properties"]
    assert {"transit_centre", "family_based_care"} <= set(schemas["CareKind"]["enum"])


def stored_events(runtime) -> int:
    return runtime.application.recorder.max_notification_id() or 0


def keyed(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


def test_a_retry_with_the_same_key_answers_the_case_registered_and_records_nothing(intake):
    runtime, client = intake
    first = client.post("/cases", json=registration(), headers=keyed("tablet-7_0001"))
    events_after_first = stored_events(runtime)
    retry = client.post("/cases", json=registration(), headers=keyed("tablet-7_0001"))
    events_after_retry = stored_events(runtime)
    unkeyed = client.post("/cases", json=registration())

    assert (first.status_code, retry.status_code) == (201, 200)
    assert retry.json()["case_id"] == first.json()["case_id"]
    assert retry.json()["case_number"] == first.json()["case_number"]
    assert events_after_retry == events_after_first == 2  # ChildRegistered, HandedOver
    # The retry took no number: the next registration has the next one.
    numbers = [int(answer.json()["case_number"][-5:]) for answer in (first, unkeyed)]
    assert numbers == [1, 2]


def test_another_registration_under_a_used_key_is_refused_naming_the_key(intake):
    runtime, client = intake
    first = client.post("/cases", json=registration(), headers=keyed("k-42"))
    events = stored_events(runtime)
    for other in (boy_formally_released(), registration(handover=None)):
        refused = client.post("/cases", json=other, headers=keyed("k-42"))
        assert refused.status_code == 409, refused.text
        assert "Idempotency-Key 'k-42'" in refused.json()["detail"]
    assert stored_events(runtime) == events
    assert client.get(f"/cases/{first.json()['case_id']}").json()["name"] == registration()["name"]


def test_the_same_key_at_another_agency_is_another_registration(intake):
    runtime, client = intake
    here = client.post("/cases", json=registration(), headers=keyed("shared-key"))
    elsewhere = client.post(
        "/cases",
        json=registration(registering_agency="CD-GOM"),
        headers=keyed("shared-key") | staff_headers(runtime.settings, agency="CD-GOM"),
    )
    assert (here.status_code, elsewhere.status_code) == (201, 201)
    assert here.json()["case_id"] != elsewhere.json()["case_id"]


@pytest.mark.parametrize("key", ["", "x" * 101, "has space", "semi;colon", "a/b"])
def test_a_malformed_key_is_refused_and_nothing_recorded(intake, key):
    runtime, client = intake
    refused = client.post("/cases", json=registration(), headers=keyed(key))
    assert refused.status_code == 422, refused.text
    assert "Idempotency-Key" in refused.text
    assert stored_events(runtime) == 0


def test_the_same_key_sent_many_times_at_once_registers_one_case(intake):
    runtime, client = intake
    with ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(
                lambda _: client.post("/cases", json=registration(), headers=keyed("burst")),
                range(16),
            )
        )
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] * 15 + [201]
    assert len({answer.json()["case_id"] for answer in answers}) == 1
    assert stored_events(runtime) == 2


def test_a_retry_after_erasure_answers_the_erased_case(intake):
    runtime, client = intake
    first = client.post("/cases", json=registration(), headers=keyed("erased-later")).json()
    erased = client.post(
        f"/cases/{first['case_id']}/erasure",
        json={"version": first["version"], "reason": "child_request"},
        headers=supervisor_headers(runtime.settings),
    )
    assert erased.status_code == 200, erased.text
    events = stored_events(runtime)

    retry = client.post("/cases", json=registration(), headers=keyed("erased-later"))
    assert retry.status_code == 200, retry.text
    assert retry.json()["case_id"] == first["case_id"]
    assert retry.json()["erased"] is True
    assert stored_events(runtime) == events
