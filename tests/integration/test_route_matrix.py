"""Every route of the three services answers only whom it should.

The matrix takes each route from ``route_requirements(app)`` (a route that declares nothing
fails), and calls it with no token and as each role, on a resource of the caller's own agency
and of another: 401 without a token, 403 when the role lacks the action, 404 for another
agency's resource (exactly as for a missing one), and otherwise an answer of the route itself
(a success, or a refusal of the request's content). Then: what a caseworker of one agency can
learn of another's cases through lists, counts and errors (nothing), and the access log (one
record per read of a child's personal data, one per denial, break-glass recorded with its
reason).
"""

import re
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.followup.domain import ReturnKind
from services.followup.service import build_runtime as build_followup
from services.followup.service import create_app as followup_api
from services.intake.service import build_runtime as build_intake
from services.intake.service import create_app as intake_api
from services.referral.domain import Referral, ServiceKind, Urgency
from services.referral.service import build_runtime as build_referral
from services.referral.service import create_app as referral_api
from shared.access import ANY, PERMISSIONS, Action, Caller, Grant, Role, permission
from shared.accesslog import AccessRecord
from shared.auth import BREAK_GLASS_HEADER, PUBLIC, route_requirements
from shared.consent import DataCategory, Purpose
from shared.keyring import generate_master_key, open_keyring
from shared.localkafka import LocalBroker
from shared.privacy import open_fields
from shared.protections import PartnerKind
from shared.runtime import ServiceRuntime
from shared.settings import Settings
from tests.conftest import platform_settings, sqlite_store
from tests.samples import registration
from tests.signin import Tokens

OWN, OTHER = "CD-KIN", "SS-JUB"  # the callers' agency, and another
PARTNER_OF = {OWN: "SCH-KIN", OTHER: "SCH-JUB"}  # the partner each agency refers to
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Holdings:
    """What one agency has in each service: a case, its follow-up plan, a referral."""

    case_id: str
    referral_id: str
    partner: str


@dataclass
class World:
    runtimes: dict[str, ServiceRuntime]
    clients: dict[str, TestClient]
    tokens: Tokens
    holdings: dict[str, Holdings]


def intake_message(runtime: ServiceRuntime, event: Any) -> Any:
    """The event's message as a consumer gets it: opened."""
    message = runtime.catalogue.to_cloudevent(event, runtime.application, runtime.relay.schemas_at)
    assert message is not None
    key = runtime.application.case_keys.for_opening(event.originator_id, "test")
    return message.model_copy(update={"data": open_fields(message.data, key)})


def holdings_of(world: World, agency: str) -> Holdings:
    """Register a case as the agency's caseworker, and give the other services what they
    would have learnt from Kafka (no consumer runs here: the matrix stays fast)."""
    intake, referral, followup = (world.runtimes[n] for n in ("intake", "referral", "followup"))
    staff = world.tokens.headers(Role.CASEWORKER, agency, f"cw-{agency.lower()}")
    created = world.clients["intake"].post(
        "/cases", json=registration(registering_agency=agency, caseworker=None), headers=staff
    )
    assert created.status_code == 201, created.text
    case_id = uuid.UUID(created.json()["case_id"])
    for event in intake.application.history(case_id):
        message = intake_message(intake, event)
        with intake.database.transaction() as tx:
            intake.application.projections.apply(message, tx)
        with referral.database.transaction() as tx:
            referral.application.intake.apply(message, tx)
    partner = PARTNER_OF[agency]
    referral.application.register_partner(
        partner, partner, PartnerKind.SCHOOL, "CD", [ServiceKind.EDUCATION], KEY
    )
    made = Referral.make(
        case_id=case_id,
        agency=partner,
        service=ServiceKind.EDUCATION,
        purpose=Purpose.EDUCATION,
        urgency=Urgency.ROUTINE,
        categories=[DataCategory.IDENTITY],
        consent_ids=[],
        shared_data={},
        answer_by=NOW,
        made_by=f"cw-{agency.lower()}",
        referring_agency=agency,
    )
    referral.application.save(made)
    followup.views.note_caseworker(case_id, f"cw-{agency.lower()}", agency)
    followup.application.start_plan(case_id, date(2026, 10, 1), ReturnKind.REUNIFIED, "cw", None)
    return Holdings(str(case_id), str(made.id), partner)


KEY = "dZLs2Lub1JWrXF/776h64qarrWirZ9S6b2R+Nc8HWGY="  # any X25519 public key


@pytest.fixture(scope="module")
def world(kafka_broker: LocalBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder: Path = tmp_path_factory.mktemp("matrix")
    settings = platform_settings(kafka_broker, folder)  # the audit route reads the broker
    keyring = open_keyring(settings)
    builders = {"intake": build_intake, "referral": build_referral, "followup": build_followup}
    apis = {"intake": intake_api, "referral": referral_api, "followup": followup_api}
    runtimes = {}
    for name, build in builders.items():
        (folder / name).mkdir()
        runtimes[name] = build(settings, sqlite_store(folder / name), lambda: NOW, keyring)
    # No lifespan: no relay or consumer runs; the access log is written all the same.
    clients = {name: TestClient(apis[name](runtime)) for name, runtime in runtimes.items()}
    world = World(runtimes, clients, Tokens(settings), {})
    world.holdings = {agency: holdings_of(world, agency) for agency in (OWN, OTHER)}
    # The audit route reads a case from Kafka alone: intake's facts are published once here.
    for relay in runtimes["intake"].relays:
        while relay.publish_pending():
            pass
    yield world
    for runtime in runtimes.values():
        runtime.application.close()


@dataclass(frozen=True)
class Who:
    name: str
    role: Role
    grants: frozenset[Grant] = frozenset()

    def caller(self) -> Caller:
        agency = PARTNER_OF[OWN] if self.role is Role.PARTNER else OWN
        return Caller(sub=f"{self.name}-1", role=self.role, agency=agency, grants=self.grants)


CALLERS = [
    Who("caseworker", Role.CASEWORKER),
    Who("supervisor", Role.SUPERVISOR),
    Who("partner", Role.PARTNER),
    Who("auditor", Role.AUDITOR, frozenset(Grant)),
    Who("auditor-without-grants", Role.AUDITOR),
    Who("admin", Role.ADMIN),
]

# Bodies that pass validation where the route decides its scope only after reading the body;
# every other route gets an empty body, which is refused (422) only once access is settled.
BODIES: dict[str, Any] = {
    "POST /referrals/{referral_id}/withdrawal": {"reason": "no longer needed"},
    "POST /partners/{agency}/referrals/{referral_id}/answers": {
        "type": "ReferralAccepted",
        "data": {},
    },
}


def referral_body(holdings: Holdings) -> dict[str, Any]:
    return {
        "case_id": holdings.case_id,
        "agency": holdings.partner,
        "service": "education",
        "purpose": "education",
        "categories": ["identity"],
    }


def url(world: World, service: str, path: str, target: str) -> str:
    holdings = world.holdings[target]
    values = {
        "case_id": holdings.case_id,
        "referral_id": holdings.referral_id,
        "agency": holdings.partner,
        "consent_id": str(uuid.uuid4()),
        "linked_case_id": str(uuid.uuid4()),
        "number": "1",
        "name": world.runtimes[service].schema_names[0],
    }
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


def scoped(path: str) -> bool:
    """Whether the route works on one agency's resource, named in its path or body."""
    return path == "/referrals" or any(
        part in path for part in ("{case_id}", "{referral_id}", "{agency}/referrals")
    )


def _routes_of(api: Any, build: Any, folder: Path) -> list[str]:
    """The routes an app has, from an app built on a throwaway runtime."""
    settings = Settings(
        kafka_bootstrap="127.0.0.1:1", data_dir=folder, master_key=generate_master_key()
    )
    runtime = build(settings, sqlite_store(folder))
    try:
        requirements = route_requirements(api(runtime))
    finally:
        runtime.application.close()
    undeclared = [route for route, declared in requirements.items() if not declared]
    assert undeclared == [], f"routes that declare no requirement: {undeclared}"
    return sorted(route for route in requirements if not route.startswith("HEAD "))


def _collect() -> dict[str, list[str]]:
    found = {}
    for service, api, build in (
        ("intake", intake_api, build_intake),
        ("referral", referral_api, build_referral),
        ("followup", followup_api, build_followup),
    ):
        with tempfile.TemporaryDirectory() as folder:
            found[service] = _routes_of(api, build, Path(folder))
    return found


ROUTES = _collect()
ALL_ROUTES = [(service, route) for service, routes in ROUTES.items() for route in routes]


def expected(who: Who | None, declared: frozenset[str], path: str, target: str) -> str:
    if PUBLIC in declared:
        return "answered"
    if who is None:
        return "401"
    (action,) = declared
    caller = who.caller()
    if not permission(caller, Action(action)).allowed:
        return "403"
    if target == OTHER and scoped(path) and PERMISSIONS[caller.role][Action(action)] is not ANY:
        return "404"
    return "answered"


def outcome(status: int) -> str:
    if status in (401, 403, 404):
        return str(status)
    assert status in (200, 201, 409, 422, 503), status
    return "answered"


@pytest.mark.parametrize(("service", "route"), ALL_ROUTES, ids=str)
def test_the_route_answers_only_whom_it_should(world: World, service: str, route: str):
    method, path = route.split(" ", 1)
    declared = route_requirements(world.clients[service].app)[route]
    assert declared, f"{route} declares nothing"
    got, wanted = {}, {}
    for who in [None, *CALLERS]:
        for target in (OWN, OTHER):
            headers = {}
            if who is not None:
                caller = who.caller()
                headers = world.tokens.headers(who.role, caller.agency, caller.sub, who.grants)
            body = BODIES.get(route, {})
            if route == "POST /referrals":
                body = referral_body(world.holdings[target])
            response = world.clients[service].request(
                method,
                url(world, service, path, target),
                json=body if method == "POST" else None,
                headers=headers,
            )
            name = "no token" if who is None else who.name
            got[(name, target)] = outcome(response.status_code)
            wanted[(name, target)] = expected(who, declared, path, target)
    assert got == wanted


def case_url(world: World, agency: str) -> str:
    return f"/cases/{world.holdings[agency].case_id}"


def caseworker(world: World) -> dict[str, str]:
    return world.tokens.headers(Role.CASEWORKER, OWN, "cw-cd-kin")


def test_a_caseworker_learns_nothing_of_another_agency_s_cases(world: World):
    intake = world.clients["intake"]
    staff = caseworker(world)
    other_case = world.holdings[OTHER].case_id
    missing = str(uuid.uuid4())

    listed = intake.get("/cases", headers=staff).json()
    assert [c["registering_agency"] for c in listed["items"]] == [OWN]
    assert listed["total"] == 1
    assert intake.get("/cases", params={"agency": OTHER}, headers=staff).json()["total"] == 0
    for route in ("/statistics/stages", f"/statistics/stages?agency={OTHER}"):
        counts = intake.get(route, headers=staff).json()
        assert counts["total"] == (0 if OTHER in route else 1)
    overdue = intake.get("/cases/overdue", headers=staff).json()
    assert {o["registering_agency"] for o in overdue} <= {OWN}
    due = world.clients["followup"].get("/visits/due", headers=staff).json()
    assert other_case not in {v["case_id"] for v in due}

    for path in ("", "/timeline"):
        theirs = intake.get(f"/cases/{other_case}{path}", headers=staff)
        nobody = intake.get(f"/cases/{missing}{path}", headers=staff)
        assert theirs.status_code == nobody.status_code == 404
        assert theirs.json()["detail"].replace(other_case, missing) == nobody.json()["detail"]
    theirs = world.clients["followup"].get(f"/plans/{other_case}", headers=staff)
    nobody = world.clients["followup"].get(f"/plans/{missing}", headers=staff)
    assert theirs.json()["detail"].replace(other_case, missing) == nobody.json()["detail"]


def access_records(world: World) -> list[AccessRecord.AccessRecorded]:
    application = world.runtimes["intake"].application
    return [
        event
        for item in application.recorder.select_notifications(start=1, limit=1_000_000)
        if isinstance(
            event := application.mapper.to_domain_event(item), AccessRecord.AccessRecorded
        )
    ]


def recorded_by(world: World, call: Any) -> list[AccessRecord.AccessRecorded]:
    before = len(access_records(world))
    call()
    return access_records(world)[before:]


def test_one_access_record_per_read_of_personal_data_and_per_denial(world: World):
    intake = world.clients["intake"]
    own, other = case_url(world, OWN), case_url(world, OTHER)
    staff = caseworker(world)
    partner = world.tokens.headers(Role.PARTNER, PARTNER_OF[OWN], "sch-app")

    def one(call: Any, outcome: str, route: str, status: int) -> AccessRecord.AccessRecorded:
        responses = []
        (record,) = recorded_by(world, lambda: responses.append(call()))
        assert responses[0].status_code == status
        assert (record.outcome, record.route) == (outcome, route)
        return record

    read = one(lambda: intake.get(own, headers=staff), "allowed", "GET /cases/{case_id}", 200)
    assert (read.accessed_by, read.caller_agency) == ("cw-cd-kin", OWN)
    assert str(read.case_id) == world.holdings[OWN].case_id
    assert read.client_address == "testclient"
    timeline = "GET /cases/{case_id}/timeline"
    one(lambda: intake.get(f"{own}/timeline", headers=staff), "allowed", timeline, 200)
    one(lambda: intake.get("/cases", headers=staff), "allowed", "GET /cases", 200)
    anonymous = one(lambda: intake.get(own), "denied", "GET /cases/{case_id}", 401)
    assert anonymous.accessed_by is None
    one(lambda: intake.get(own, headers=partner), "denied", "GET /cases/{case_id}", 403)
    one(lambda: intake.get(other, headers=staff), "denied", "GET /cases/{case_id}", 404)
    # A case that does not exist is no one's: nothing to record.
    assert recorded_by(world, lambda: intake.get(f"/cases/{uuid.uuid4()}", headers=staff)) == []
    # Public routes and writes that return no one's data leave no read record.
    assert recorded_by(world, lambda: intake.get("/healthz")) == []


def test_a_supervisor_breaks_the_glass_with_a_reason_recorded(world: World):
    intake = world.clients["intake"]
    other = case_url(world, OTHER)
    supervisor = world.tokens.headers(Role.SUPERVISOR, OWN, "sup-cd-kin")

    too_short = {**supervisor, BREAK_GLASS_HEADER: "urgent"}
    assert intake.get(other, headers=too_short).status_code == 404
    reason = "Child reported at our centre without papers; checking for a prior registration."
    responses = []
    (record,) = recorded_by(
        world,
        lambda: responses.append(
            intake.get(other, headers={**supervisor, BREAK_GLASS_HEADER: reason})
        ),
    )
    assert responses[0].status_code == 200
    assert record.outcome == "break_glass"
    application = world.runtimes["intake"].application
    history = [
        application.mapper.to_domain_event(item)
        for item in application.recorder.select_notifications(start=1, limit=1_000_000)
    ]
    reasons = [e for e in history if isinstance(e, AccessRecord.BreakGlassJustified)]
    assert [r.originator_id for r in reasons][-1:] == [record.originator_id]
    caseworker_glass = {**caseworker(world), BREAK_GLASS_HEADER: reason}
    assert intake.get(other, headers=caseworker_glass).status_code == 404


def test_a_best_interests_decision_needs_a_supervisor_other_than_the_case_s_caseworker(
    world: World,
):
    intake = world.clients["intake"]
    own_supervisor = world.tokens.headers(Role.SUPERVISOR, OWN, "sup-holds-it")
    young = registration(caseworker=None, date_of_birth="2014-01-10", estimated_age=12)
    created = intake.post("/cases", json=young, headers=own_supervisor).json()
    assert created["caseworker"] == "sup-holds-it"  # the caller, since the body names no one
    decision = {
        "version": created["version"],
        "given_by": "best_interests_decision",
        "purpose": "family_tracing",
        "recipients": ["CD-ICRC"],
        "categories": ["identity"],
        "given_on": "2026-11-20",
    }
    consents = f"/cases/{created['case_id']}/consents"
    unwritten = intake.post(consents, json=decision, headers=own_supervisor)
    assert unwritten.status_code == 422
    assert "written best_interests_reason" in unwritten.text
    decision |= {
        "best_interests_grounds": "caregiver_a_source_of_harm",
        "best_interests_reason": "The uncle who holds custody handed the child to the group.",
    }
    refused = intake.post(consents, json=decision, headers=caseworker(world))
    assert refused.status_code == 403
    assert "decide_best_interests" in refused.json()["detail"]
    own = intake.post(consents, json=decision, headers=own_supervisor)
    assert own.status_code == 403
    assert "someone other" in own.json()["detail"]
    other_supervisor = world.tokens.headers(Role.SUPERVISOR, OWN, "sup-approves")
    approved = intake.post(consents, json=decision, headers=other_supervisor)
    assert approved.status_code == 201, approved.text
    (consent,) = approved.json()["consents"]
    assert (consent["recorded_by"], consent["approved_by"]) == ("sup-holds-it", "sup-approves")
    assert consent["best_interests_reason"] == decision["best_interests_reason"]
