"""Every operation of every service's OpenAPI, called with requests schemathesis makes from
it: no server error, and no traceback in any answer.

Each service is built in-process as the other tests build it (the session's broker, a SQLite
store in the test's folder) and runs as it does in production: schemathesis starts its lifespan,
so its relays, consumers and sweeps work beside the requests. A case, a partner, a referral and
a follow-up plan are made first, so that some requests name things that exist. Each operation
is called signed in as someone who may call it (the first of a caseworker, a supervisor, a
partner, an auditor with every grant and an administrator whose role holds the action it
declares), with schemathesis' coverage cases (each parameter's and field's boundaries, wrong
types, required ones missing, the token left out) and then generated ones, half fitting the
schema and half not. ``pytest -m long`` runs the same with twenty times as many generated requests.
"""

import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import hypothesis
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi

from services.followup.domain import ReturnKind
from services.followup.service import build_runtime as build_followup
from services.followup.service import create_app as followup_api
from services.intake.service import build_runtime as build_intake
from services.intake.service import create_app as intake_api
from services.referral.domain import Referral, ServiceKind, Urgency
from services.referral.service import build_runtime as build_referral
from services.referral.service import create_app as referral_api
from shared.access import Action, Caller, Grant, Role, permission
from shared.auth import PUBLIC, route_requirements
from shared.consent import DataCategory, Purpose
from shared.protections import PartnerKind
from shared.runtime import ServiceRuntime
from shared.settings import Settings
from tests.conftest import sqlite_store
from tests.samples import registration
from tests.signin import Tokens

# The services' Kafka clients draw from `random` in their own threads while hypothesis draws a
# request, which hypothesis takes for a strategy using `random`.
pytestmark = pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies")

AGENCY, PARTNER = "CD-KIN", "SCH-KIN"
PARTNER_KEY = "dZLs2Lub1JWrXF/776h64qarrWirZ9S6b2R+Nc8HWGY="  # any X25519 public key
CALLERS = [
    Caller("cw-0412", Role.CASEWORKER, AGENCY),
    Caller("sup-07", Role.SUPERVISOR, AGENCY),
    Caller(f"{PARTNER.lower()}-app", Role.PARTNER, PARTNER),
    Caller("au-1", Role.AUDITOR, "UN-AUD", frozenset(Grant)),
    Caller("admin-1", Role.ADMIN, "HW-ADMIN"),
]
# Generated requests per operation and generation mode, after the coverage cases: the default
# keeps the file well under a minute and a half on two cores.
EXAMPLES, LONG_EXAMPLES = 15, 300
TRACEBACK = "Traceback (most recent call last)"

Seed = Callable[[ServiceRuntime, TestClient, Tokens], dict[str, str]]


@dataclass
class Tally:
    """What one service's run sent and got back, and what failed."""

    operations: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def by_class(self, hundreds: int) -> int:
        return sum(n for status, n in self.statuses.items() if status // 100 == hundreds)

    def figures(self, service: str, seconds: float) -> str:
        return (
            f"{service}: {self.operations} operations, {self.statuses.total()} requests, "
            f"2xx {self.by_class(2)}, 4xx {self.by_class(4)}, 5xx {self.by_class(5)}, "
            f"{seconds:.1f} s"
        )


def caller_for(declared: frozenset[str]) -> Caller:
    if PUBLIC in declared:
        return CALLERS[0]
    (action,) = declared
    return next(c for c in CALLERS if permission(c, Action(action)).allowed)


def seed_intake(_runtime: ServiceRuntime, client: TestClient, tokens: Tokens) -> dict[str, str]:
    staff = tokens.headers(Role.CASEWORKER, AGENCY, "cw-0412")
    created = client.post("/cases", json=registration(), headers=staff)
    assert created.status_code == 201, created.text
    return {"case_id": created.json()["case_id"]}


def seed_referral(runtime: ServiceRuntime, _client: TestClient, _tokens: Tokens) -> dict[str, str]:
    referrals = runtime.application
    referrals.register_partner(
        PARTNER, "Kinshasa school", PartnerKind.SCHOOL, "CD", [ServiceKind.EDUCATION], PARTNER_KEY
    )
    case_id = uuid.uuid4()
    made = Referral.make(
        case_id=case_id,
        agency=PARTNER,
        service=ServiceKind.EDUCATION,
        purpose=Purpose.EDUCATION,
        urgency=Urgency.ROUTINE,
        categories=[DataCategory.IDENTITY],
        consent_ids=[],
        shared_data={},
        answer_by=datetime.now(UTC) + timedelta(days=7),
        made_by="cw-0412",
        referring_agency=AGENCY,
    )
    referrals.save(made)
    return {"case_id": str(case_id), "referral_id": str(made.id), "agency": PARTNER}


def seed_followup(runtime: ServiceRuntime, _client: TestClient, _tokens: Tokens) -> dict[str, str]:
    case_id = uuid.uuid4()
    runtime.views.note_caseworker(case_id, "cw-0412", AGENCY)
    returned_on = date.today() - timedelta(days=30)
    runtime.application.start_plan(case_id, returned_on, ReturnKind.REUNIFIED, "cw-0412", None)
    return {"case_id": str(case_id), "number": "1"}


SERVICES: dict[str, tuple[Callable[..., ServiceRuntime], Callable[..., FastAPI], Seed]] = {
    "intake": (build_intake, intake_api, seed_intake),
    "referral": (build_referral, referral_api, seed_referral),
    "followup": (build_followup, followup_api, seed_followup),
}


@pytest.fixture
def lifespans_stopped_after() -> Iterator[None]:
    """Schemathesis starts a service's lifespan at its first request: stop it with the test."""
    yield
    asgi.shutdown_lifespans()


def check(case: schemathesis.Case, headers: dict[str, str], tally: Tally) -> None:
    response = case.call(headers=headers)
    tally.statuses[response.status_code] += 1
    try:
        case.validate_response(response, checks=[not_a_server_error])
        assert TRACEBACK not in response.text, "a traceback in the answer"
    except AssertionError as failure:
        curl = case.as_curl_command(headers=headers)
        tally.failures.append(f"{response.status_code} {failure}\n{curl}")


def call_generated(
    cases: st.SearchStrategy[schemathesis.Case], count: int, headers: dict[str, str], tally: Tally
) -> None:
    @hypothesis.settings(
        max_examples=count,
        deadline=None,
        database=None,
        phases=[hypothesis.Phase.generate],  # every failure is collected, none shrunk
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(case=cases)
    def generated(case: schemathesis.Case) -> None:
        check(case, headers, tally)

    generated()


def fuzz(app: FastAPI, tokens: Tokens, existing: dict[str, str], examples: int) -> Tally:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    requirements = route_requirements(app)
    tally = Tally()
    for result in schema.get_all_operations():
        operation = result.ok()
        tally.operations += 1
        caller = caller_for(requirements[f"{operation.method.upper()} {operation.path}"])
        headers = tokens.headers(caller.role, caller.agency, caller.sub, caller.grants)

        generation = schema.config.generation_for(operation=operation)
        for case in schema.iter_coverage_cases(
            operation, generation_modes=list(GenerationMode), generation_config=generation
        ):
            check(case, headers, tally)

        strategies = [operation.as_strategy(generation_mode=mode) for mode in GenerationMode]
        in_path = {parameter.name for parameter in operation.path_parameters}
        if known := {name: existing[name] for name in in_path if name in existing}:
            strategies.append(operation.as_strategy(path_parameters=known))

        call_generated(st.one_of(strategies), examples * len(GenerationMode), headers, tally)
    return tally


def run(service: str, settings: Settings, folder: Path, examples: int, capsys) -> None:
    build, api, seed = SERVICES[service]
    runtime = build(settings, sqlite_store(folder))
    app = api(runtime)
    tokens = Tokens(settings)
    existing = seed(runtime, TestClient(app), tokens)  # not entered: no lifespan of its own
    began = time.monotonic()
    tally = fuzz(app, tokens, existing, examples)
    with capsys.disabled():
        print(f"\n{tally.figures(service, time.monotonic() - began)}")
    declared = sum(len(operations) for operations in app.openapi()["paths"].values())
    assert tally.operations == declared
    assert tally.by_class(2) > tally.operations  # signed in as someone the routes let through
    assert tally.failures == []


@pytest.mark.usefixtures("lifespans_stopped_after")
@pytest.mark.parametrize("service", SERVICES)
def test_no_server_error_and_no_traceback(service, settings, tmp_path, capsys):
    run(service, settings, tmp_path, EXAMPLES, capsys)


@pytest.mark.long
@pytest.mark.usefixtures("lifespans_stopped_after")
@pytest.mark.parametrize("service", SERVICES)
def test_no_server_error_and_no_traceback_long(service, settings, tmp_path, capsys):
    run(service, settings, tmp_path, LONG_EXAMPLES, capsys)
