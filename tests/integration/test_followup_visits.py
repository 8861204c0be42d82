"""A visit is recorded with how it was made: at home, at school, in the community, at the
office or by phone; a visit without it is refused with 422 naming the field."""

from datetime import UTC, date, datetime
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from services.followup.domain import ReturnKind
from services.followup.service import build_runtime, create_app
from tests.signin import staff_headers

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
VISIT = {
    "visited_on": "2026-10-15",
    "mode": "phone",
    "wellbeing": "good",
    "attending_school": True,
    "livelihood_status": "apprentice",
    "family_acceptance": "good",
    "community_acceptance": "fair",
    "stigma_reported": False,
    "security_threat": False,
    "re_recruitment_threat": False,
}


@pytest.fixture
def followed(settings, sqlite_env):
    runtime = build_runtime(settings, sqlite_env, clock=lambda: NOW)
    case_id = uuid4()
    runtime.views.note_caseworker(case_id, "cw-0412", "CD-KIN")
    runtime.application.start_plan(
        case_id, date(2026, 10, 1), ReturnKind.REUNIFIED, "cw-0412", None
    )
    yield case_id, TestClient(create_app(runtime), headers=staff_headers(runtime.settings))
    runtime.application.close()


def complete_first_visit(client: TestClient, case_id, **changes):
    plan = client.get(f"/plans/{case_id}").json()
    body = {"version": plan["version"], **VISIT, **changes}
    return client.post(f"/plans/{case_id}/visits/1/completion", json=body)


def test_a_visit_records_how_it_was_made(followed):
    case_id, client = followed
    done = complete_first_visit(client, case_id)
    assert done.status_code == 200, done.text
    [first, *later] = done.json()["visits"]
    assert (first["status"], first["mode"]) == ("completed", "phone")
    assert all(visit["mode"] is None for visit in later)


@pytest.mark.parametrize(
    ("mode", "message"),
    [(None, "mode: Field required"), ("carrier pigeon", "mode: Input should be 'home'")],
)
def test_a_visit_without_a_known_mode_is_refused(followed, mode, message):
    case_id, client = followed
    body = dict(VISIT, mode=mode) if mode else {k: v for k, v in VISIT.items() if k != "mode"}
    plan = client.get(f"/plans/{case_id}").json()
    refused = client.post(
        f"/plans/{case_id}/visits/1/completion", json={"version": plan["version"], **body}
    )
    assert refused.status_code == 422
    assert message in refused.json()["detail"]
    assert client.get(f"/plans/{case_id}").json()["visits"][0]["status"] == "scheduled"


def test_the_openapi_lists_the_visit_modes(followed):
    _case_id, client = followed
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert set(schemas["VisitMode"]["enum"]) == {"home", "school", "community", "office", "phone"}
