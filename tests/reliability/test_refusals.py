"""Refusals are total: every mistake of the caller gets the answer that says what to fix
(out-of-range parameters 422, bodies too large 413, bodies not JSON 415, rule violations and
conflicts 409, missing things 404), and only a bug is a 500, which closes the connection."""

import json
import uuid

import pytest
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.followup import service as followup_service
from services.followup.domain import InvalidVisitData, PlanNotFound, StalePlan
from services.intake import service as intake_service
from services.intake.app import IntakeApplication, StaleVersion
from services.intake.domain import RiskAssessment, RiskLevel
from services.intake.service import build_runtime, create_app
from services.referral import service as referral_service
from services.referral.domain import PartnerNotFound, ReferralNotFound
from shared.access import Grant, Role
from shared.api import MAX_OFFSET, answer_refusals
from shared.refusals import RuleViolation
from tests.samples import registration
from tests.signin import Tokens, staff_headers
from tests.unit.test_child_case import NOW, REGISTRATION


def test_paging_past_what_a_database_integer_holds_is_refused_with_422(settings, sqlite_env):
    auditor = Tokens(settings).headers(Role.AUDITOR, "UN-AUD", "au-1", frozenset(Grant))
    with TestClient(create_app(build_runtime(settings, sqlite_env))) as intake:
        answers = {
            route: intake.get(route, params={"offset": 2**63}, headers=headers)
            for route, headers in (
                ("/cases", staff_headers(settings)),
                ("/audit/access", auditor),
            )
        }
        staff = staff_headers(settings)
        within = intake.get("/cases", params={"offset": MAX_OFFSET}, headers=staff)
    for route, answer in answers.items():
        assert answer.status_code == 422, (route, answer.text)
        assert "offset" in answer.json()["detail"], route
    assert within.status_code == 200
    assert within.json()["items"] == []


def bounded(schema: dict) -> bool:
    """Whether a parameter's schema limits what it takes: integers by both ends, strings by
    their length, or by being a UUID, a date, an enumeration or a boolean."""
    options = schema.get("anyOf", [schema])
    return all(
        option.get("type") in ("null", "boolean")
        or "$ref" in option  # an enumeration
        or option.get("format") in ("uuid", "date", "date-time")
        or (option.get("type") == "integer" and "minimum" in option and "maximum" in option)
        or (option.get("type") == "string" and "maxLength" in option)
        for option in options
    )


def test_every_query_parameter_and_path_segment_of_every_service_has_bounds(settings, sqlite_env):
    unbounded, seen = [], 0
    for service in (intake_service, referral_service, followup_service):
        spec = service.create_app(service.build_runtime(settings, sqlite_env)).openapi()
        for path, operations in spec["paths"].items():
            for method, operation in operations.items():
                for parameter in operation.get("parameters", []):
                    seen += 1
                    if parameter["in"] in ("query", "path") and not bounded(parameter["schema"]):
                        unbounded.append(f"{method.upper()} {path} {parameter['name']}")
    assert seen > 50  # the three services' parameters were all looked at
    assert unbounded == []


@pytest.fixture
def intake(settings, sqlite_env):
    runtime = build_runtime(settings, sqlite_env)
    client = TestClient(
        create_app(runtime), headers=staff_headers(settings), raise_server_exceptions=False
    )
    yield runtime, client
    runtime.application.close()


def test_a_chunked_body_over_the_limit_is_refused_with_413(intake):
    runtime, client = intake
    limit = runtime.settings.max_request_bytes

    def chunks():
        body = json.dumps(registration(name="x" * limit)).encode()
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    response = client.post("/cases", content=chunks(), headers={"content-type": "application/json"})
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]
    assert not runtime.application.recorder.max_notification_id()


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_body_not_sent_as_json_is_refused_with_415(intake, content_type):
    runtime, client = intake
    headers = {} if content_type is None else {"content-type": content_type}
    response = client.post("/cases", content=json.dumps(registration()).encode(), headers=headers)
    assert response.status_code == 415
    assert "application/json" in response.json()["detail"]
    assert not runtime.application.recorder.max_notification_id()
    with_parameters = client.post(
        "/cases",
        content=json.dumps(registration()).encode(),
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert with_parameters.status_code == 201


def test_a_bare_key_error_is_a_500_that_closes_the_connection_and_a_missing_case_a_404(
    intake, monkeypatch
):
    _runtime, client = intake
    missing = uuid.uuid4()
    not_found = client.get(f"/cases/{missing}")
    assert not_found.status_code == 404
    assert not_found.json() == {"detail": f"No case {missing}."}
    assert not_found.headers.get("connection") != "close"

    def broken(_self, _case_id):
        raise KeyError("a bug, not a missing case")

    monkeypatch.setattr(IntakeApplication, "get_case", broken)
    failed = client.get(f"/cases/{missing}")
    assert failed.status_code == 500
    assert failed.headers["connection"] == "close"
    assert "a bug" not in failed.text


class Refused(RuleViolation):
    pass


REFUSALS = {
    "rule": (Refused("rule 'x': case 1 is closed"), 409, {"detail": "rule 'x': case 1 is closed"}),
    "stale": (
        StaleVersion("case 1 is at version 7, not 5", current_version=7),
        409,
        {"detail": "case 1 is at version 7, not 5", "current_version": 7},
    ),
    "stale plan, version unknown": (
        StalePlan("changed meanwhile", current_version=None),
        409,
        {"detail": "changed meanwhile"},
    ),
    "saved meanwhile": (
        IntegrityError("UNIQUE constraint failed"),
        409,
        {"detail": "Another change was recorded while this command ran: reload and try again."},
    ),
    "impossible fact": (
        InvalidVisitData("visited_on is in the future"),
        422,
        {"detail": "Fix this: visited_on is in the future"},
    ),
    "no plan": (
        PlanNotFound(uuid.UUID(int=1)),
        404,
        {"detail": f"Case {uuid.UUID(int=1)} has no follow-up plan (not returned yet)."},
    ),
    "no referral": (
        ReferralNotFound(uuid.UUID(int=2)),
        404,
        {"detail": f"No referral {uuid.UUID(int=2)}."},
    ),
    "no partner": (PartnerNotFound("KE-NBO"), 404, {"detail": "No partner KE-NBO is registered."}),
    "bare KeyError": (KeyError("x"), 500, {"detail": "Internal error; try again later."}),
    "aggregate not found": (
        AggregateNotFoundError("x"),
        500,
        {"detail": "Internal error; try again later."},
    ),
}


@pytest.mark.parametrize(("error", "status", "body"), REFUSALS.values(), ids=REFUSALS.keys())
def test_each_kind_of_refusal_has_one_answer_in_every_service(error, status, body):
    app = FastAPI()
    answer_refusals(app)

    @app.get("/refused")
    def refused() -> None:
        raise error

    response = TestClient(app, raise_server_exceptions=False).get("/refused")
    assert response.status_code == status
    assert response.json() == body
    assert (response.headers.get("connection") == "close") == (status == 500)


def test_a_change_saved_meanwhile_is_refused_with_the_version_recorded(
    sqlite_env, case_keys, monkeypatch
):
    intake = IntakeApplication(sqlite_env, lambda: NOW, case_keys)
    case = intake.register_child(REGISTRATION)
    stale = intake.get_case(case.id)
    based_on = stale.version
    risk = RiskAssessment(RiskLevel.HIGH, "threats at the market", "cw-9", NOW)
    intake.set_risk_level(case.id, based_on, risk)
    # The second command loaded the case before the first one was saved.
    monkeypatch.setattr(intake, "get_case", lambda _case_id: stale)
    with pytest.raises(StaleVersion, match="changed while this command ran") as refused:
        intake.set_risk_level(case.id, based_on, risk)
    assert refused.value.current_version == based_on + 1
