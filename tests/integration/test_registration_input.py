"""Bad input to `POST /cases` gets a 4xx that says what to fix, and records nothing."""

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from services.intake.service import build_runtime, create_app
from tests.samples import registration
from tests.signin import staff_headers

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
