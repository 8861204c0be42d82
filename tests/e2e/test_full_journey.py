"""A whole journey across the three services, through the real broker only: release, interim
care, tracing and reunification, referrals to a school and a livelihood programme answered by
partners over Kafka, two years of follow-up visits with a re-recruitment alert, and closure."""

import json
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from kafka import KafkaConsumer, KafkaProducer

from services.followup.messages import CATALOGUE as FOLLOWUP_EVENTS
from services.followup.service import build_runtime as build_followup
from services.followup.service import create_app as followup_api
from services.intake.messages import CATALOGUE as INTAKE_EVENTS
from services.intake.service import build_runtime as build_intake
from services.intake.service import create_app as intake_api
from services.referral.messages import CATALOGUE as REFERRAL_EVENTS
from services.referral.service import build_runtime as build_referral
from services.referral.service import create_app as referral_api
from shared.kafka import AUDITOR, kafka_connection
from shared.keyring import CaseKeys, open_keyring
from shared.replay import read_case_messages, replay_case
from tests.conftest import sqlite_store
from tests.partner import PartnerLogin, register_partner, run_guide
from tests.samples import (
    FAMILY_TRACING_CONSENT,
    MOTHER_ASSESSED,
    MOTHER_LOCATED,
    RETURN_APPROVED,
    RETURN_CHECKED,
    TRACING_STARTED,
    registration,
)
from tests.signin import staff_headers, supervisor_headers


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def to(self, day: date) -> None:
        self.now = datetime.combine(day, self.now.timetz())


def wait_for(check, what: str, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


class Partner:
    """A partner agency as it would be built outside Homeward: a plain Kafka client signed in
    with the credentials its registration gave, its own key pair in ``key_folder`` and the
    partner's guide's lines to open and seal."""

    def __init__(self, login: PartnerLogin, key_folder: Path) -> None:
        self.agency = agency = login.username
        self.key_folder = key_folder
        self.sealed: Any = None  # the guide's function that seals free text to Homeward
        self.consumer = KafkaConsumer(
            f"homeward.partner.{agency}.referrals",
            **login.kafka_python(),
            group_id=login.group("case-system"),
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        self.producer = KafkaProducer(**login.kafka_python())

    def next_referral(self) -> dict:
        def received():
            for records in self.consumer.poll(timeout_ms=300).values():
                for record in records:
                    event = json.loads(record.value)
                    if event["type"] == "org.homeward.partner.ReferralReceived.v1":
                        guide = run_guide(self.key_folder, event)
                        self.sealed = guide["sealed"]
                        return guide["data"]
            return None

        return wait_for(received, f"a referral for {self.agency}")

    def answer(self, type_name: str, **data) -> None:
        event = {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": f"/partners/{self.agency}",
            "type": f"org.homeward.partner.{type_name}.v1",
            "data": data,
        }
        self.producer.send(
            f"homeward.partner.{self.agency}.replies", json.dumps(event).encode()
        ).get(timeout=10)

    def close(self) -> None:
        self.consumer.close(autocommit=False)
        self.producer.close()


@contextmanager
def running_services(settings, store_env: Callable[[str], dict[str, str]]):
    """The three services in this process, each on the event store ``store_env`` gives for
    its name (``keyring`` too), with one clock to move through the journey."""
    clock = Clock(datetime(2026, 10, 4, 10, 0, tzinfo=UTC))
    keyring = open_keyring(settings, store_env("keyring"))
    runtimes = {
        name: build(settings, store_env(name), clock, keyring)
        for name, build in (
            ("intake", build_intake),
            ("referral", build_referral),
            ("followup", build_followup),
        )
    }
    with (
        TestClient(
            intake_api(runtimes["intake"]), headers=staff_headers(runtimes["intake"].settings)
        ) as intake,
        TestClient(
            referral_api(runtimes["referral"]), headers=staff_headers(runtimes["referral"].settings)
        ) as referral,
        TestClient(
            followup_api(runtimes["followup"]), headers=staff_headers(runtimes["followup"].settings)
        ) as followup,
    ):
        yield clock, intake, referral, followup, keyring


def sqlite_stores(folder: Path) -> Callable[[str], dict[str, str]]:
    def store_env(name: str) -> dict[str, str]:
        (folder / name).mkdir(exist_ok=True)
        return sqlite_store(folder / name)

    return store_env


@pytest.fixture
def services(settings, tmp_path):
    with running_services(settings, sqlite_stores(tmp_path)) as running:
        yield running


def test_from_release_to_closure_across_the_platform(services, settings, tmp_path):
    clock, intake, referral, followup, keyring = services
    suffix = uuid.uuid4().hex[:4].upper()
    agency, school, training = f"CD-{suffix}", f"SCH-{suffix}", f"LIV-{suffix}"
    for client in (intake, referral, followup):  # the case's caseworker, on every service
        client.headers.update(staff_headers(settings, agency=agency))
    case = intake.post("/cases", json=registration(registering_agency=agency)).json()
    case_id = case["case_id"]

    def step(path: str, **body) -> dict:
        nonlocal case
        response = intake.post(
            f"/cases/{case_id}/{path}", json={"version": case["version"], **body}
        )
        assert response.status_code in (200, 201), f"{path}: {response.text}"
        case = response.json()
        return case

    # Interim care, then tracing under the child's consent, then reunification.
    step(
        "interim-care",
        kind="interim_care_centre",
        carer="CTO Goma",
        entered_on="2026-10-04",
    )
    step("consents", **FAMILY_TRACING_CONSENT)
    step("tracing", **TRACING_STARTED)
    clock.to(date(2026, 10, 12))
    step("tracing/family-located", **MOTHER_LOCATED)
    step("tracing/family-assessment", **MOTHER_ASSESSED)
    for side in ("child", "family"):
        step("tracing/relationship-verification", verified_with=side, verified_on="2026-10-11")
    step("tracing/return-check", **RETURN_CHECKED)
    approved = intake.post(
        f"/cases/{case_id}/tracing/return-approval",
        json={"version": case["version"], **RETURN_APPROVED},
        headers=supervisor_headers(settings, agency),
    )
    assert approved.status_code == 200, approved.text
    case = approved.json()
    step(
        "interim-care/end",
        left_on="2026-10-12",
        exit_reason="family_reunification",
    )
    step("reunification", reunified_on="2026-10-12")
    assert case["stage"] == "reunified"

    # Reunification makes the follow-up plan, through Kafka.
    plan = wait_for(
        lambda: (r := followup.get(f"/plans/{case_id}")).status_code == 200 and r.json(),
        "the follow-up plan",
    )
    assert [v["due_on"] for v in plan["visits"]][:2] == ["2026-10-26", "2026-11-11"]
    assert plan["visits"][-1]["due_on"] == "2028-10-11"  # 24 months after the return
    assert plan["caseworker"] == "cw-0412"

    # Referrals to a school and a livelihood programme, each under its own consent.
    logins = {}
    for partner, service, purpose in (
        (school, "education", "education"),
        (training, "livelihood", "livelihood"),
    ):
        logins[partner] = register_partner(
            referral, settings.kafka_bootstrap, partner, service, tmp_path / partner
        )
        step(
            "consents",
            given_by="child_consent",
            purpose=purpose,
            recipients=[partner],
            categories=["identity"],
            given_on="2026-10-12",
        )
    partners = {
        partner: Partner(logins[partner], tmp_path / partner) for partner in (school, training)
    }
    try:
        for partner, service in ((school, "education"), (training, "livelihood")):
            body = {
                "case_id": case_id,
                "agency": partner,
                "service": service,
                "purpose": service,
                "categories": ["identity"],
            }
            wait_for(
                lambda body=body: referral.post("/referrals", json=body).status_code == 201,
                f"the referral to {partner}",
            )
        enrolment = partners[school].next_referral()
        assert enrolment["shared_data"]["name"] == "Amani Zawadi-Kuvuka"
        partners[school].answer("ReferralAccepted", referral_id=enrolment["referral_id"])
        partners[school].answer(
            "ServiceStarted", referral_id=enrolment["referral_id"], started_on="2026-10-20"
        )
        partners[school].answer(
            "MilestoneReported",
            referral_id=enrolment["referral_id"],
            milestone="education_enrolled",
            reported_on="2026-10-20",
        )
        livelihood = partners[training].next_referral()
        for type_name, data in (
            ("ReferralAccepted", {}),
            ("ServiceStarted", {"started_on": "2026-11-02"}),
            ("MilestoneReported", {"milestone": "livelihood_started", "reported_on": "2026-11-02"}),
            (
                "MilestoneReported",
                {
                    "milestone": "income_reported",
                    "reported_on": "2027-03-01",
                    "detail": partners[training].sealed("tailoring", livelihood["reply_key"]),
                },
            ),
            ("ServiceCompleted", {"completed_on": "2027-04-30"}),
        ):
            partners[training].answer(type_name, referral_id=livelihood["referral_id"], **data)
    finally:
        for partner in partners.values():
            partner.close()
    outcomes = wait_for(
        lambda: len(o := followup.get(f"/plans/{case_id}").json()["outcomes"]) == 4 and o,
        "the partners' outcomes on the reintegration record",
    )
    assert [o["outcome"] for o in outcomes] == [
        "education_enrolled",
        "livelihood_started",
        "income_reported",
        "service_completed",
    ]
    assert {o["service"] for o in outcomes} == {"education", "livelihood"}

    # Two years of visits. One is missed and shows as overdue for the caseworker.
    def visit(number: int, on: str, **findings) -> dict:
        nonlocal plan
        body = {
            "version": plan["version"],
            "visited_on": on,
            "mode": "home",
            "wellbeing": "good",
            "attending_school": True,
            "livelihood_status": "apprentice",
            "family_acceptance": "good",
            "community_acceptance": "fair",
            "stigma_reported": False,
            "security_threat": False,
            "re_recruitment_threat": False,
            **findings,
        }
        response = followup.post(f"/plans/{case_id}/visits/{number}/completion", json=body)
        assert response.status_code == 200, response.text
        plan = response.json()
        return plan

    clock.to(date(2026, 10, 27))
    visit(1, "2026-10-27")
    clock.to(date(2026, 11, 13))
    missed = followup.post(
        f"/plans/{case_id}/visits/2/missed",
        json={"version": plan["version"], "reason": "family at market"},
    )
    plan = missed.json()

    def due_for_this_case() -> list[dict]:
        due = followup.get("/visits/due", params={"caseworker": "cw-0412"}).json()
        return [v for v in due if v["case_id"] == case_id]

    # The projection catches up with visit 1's completion and visit 2's miss.
    wait_for(lambda: [v["visit"] for v in due_for_this_case()] == [2], "the overdue visit")
    assert due_for_this_case() == [
        {
            "case_id": case_id,
            "visit": 2,
            "due_on": "2026-11-11",
            "caseworker": "cw-0412",
            "overdue": True,
            "missed": True,
        }
    ]
    visit(2, "2026-11-13")

    # A re-recruitment threat raises the case's risk level in intake, through Kafka.
    clock.to(date(2027, 1, 12))
    visit(3, "2027-01-12", re_recruitment_threat=True)
    assert plan["alerts"] == ["re_recruitment_threat"]
    raised = wait_for(
        lambda: (c := intake.get(f"/cases/{case_id}").json())["journey"]["risk"] and c,
        "the case's risk level raised by the follow-up alert",
    )
    assert raised["journey"]["risk"]["level"] == "high"
    assert "risk_response_overdue" not in raised["alerts"]  # just set: due within 24 hours
    # Follow-up hears the case's new risk level back from intake, without alerting again.
    plan = wait_for(
        lambda: (p := followup.get(f"/plans/{case_id}").json())["risk"] == "high" and p,
        "the plan to note the case's risk",
    )
    assert plan["alerts"] == ["re_recruitment_threat"]
    # The high risk brings the closer visits of the high-risk schedule from then on.
    added = [(v["number"], v["due_on"]) for v in plan["visits"] if v["number"] > 7]
    assert added == [(8, "2027-02-11"), (9, "2027-07-12")]
    case = raised  # the alert changed the case: the next step builds on that version
    step(
        "risk-level",
        level="low",
        reason="Group left the area",
        set_at="2027-01-12T10:00:00Z",
    )
    plan = wait_for(
        lambda: (p := followup.get(f"/plans/{case_id}").json())["risk"] == "low" and p,
        "the plan to note the lowered risk",
    )

    for number, day in (
        (8, date(2027, 2, 11)),
        (4, date(2027, 4, 12)),
        (9, date(2027, 7, 12)),
        (5, date(2027, 10, 12)),
        (6, date(2028, 4, 11)),
        (7, date(2028, 10, 11)),
    ):
        clock.to(day)
        visit(number, day.isoformat())
    review = followup.post(
        f"/plans/{case_id}/review",
        json={"version": plan["version"], "goals_met": "met"},
    ).json()
    assert review["closure_recommended"] is True
    assert all(v["status"] == "completed" for v in review["visits"])

    # The recommendation reaches the case in intake, where the caseworker asks for closure.
    case = wait_for(
        lambda: (
            (c := intake.get(f"/cases/{case_id}").json())["journey"][
                "closure_recommended_by_followup"
            ]
            and c
        ),
        "follow-up's closure recommendation on the case",
    )
    assert case["stage"] != "closed"  # a recommendation, not a decision
    step(
        "case-plan",
        goals={"education": "Grade 8 at the Kibati school."},
        child_participated=True,
        agreed_on=clock.now.date().isoformat(),
    )
    step(
        "closure",
        reason="reintegration_goals_met",
        requested_on=clock.now.date().isoformat(),
    )
    approved = intake.post(
        f"/cases/{case_id}/closure/approval",
        json={"version": case["version"], "approved_on": clock.now.date().isoformat()},
        headers=supervisor_headers(settings, agency),
    )
    assert approved.status_code == 200, approved.text
    case = approved.json()
    assert case["stage"] == "closed"

    # An auditor replays the whole story from Kafka alone, across the three services.
    topics = ["homeward.intake.events", "homeward.referral.events", "homeward.followup.events"]
    audit = kafka_connection(settings, AUDITOR)
    history = wait_for(
        lambda: (
            (h := replay_case(audit, topics, uuid.UUID(case_id), CaseKeys(keyring, "audit")))
            and h[-1]["type"].endswith("CaseClosed.v1")
            and h
        ),
        "the closure on Kafka",
    )
    kinds = [entry["type"] for entry in history]
    for expected in (
        "intake.ChildRegistered",
        "intake.Reunified",
        "referral.ReferralMade",
        "referral.MilestoneReported",
        "followup.PlanCreated",
        "followup.AlertRaised",
        "intake.RiskLevelSet",
        "followup.ClosureRecommended",
        "intake.CaseClosed",
    ):
        assert any(f"org.homeward.{expected}.v1" == kind for kind in kinds), expected
    # Every message each service published about the case matches its published schema.
    catalogues = {"intake": INTAKE_EVENTS, "referral": REFERRAL_EVENTS, "followup": FOLLOWUP_EVENTS}
    published = read_case_messages(audit, topics, uuid.UUID(case_id))
    assert len(published) == len(history)
    for message in published:
        catalogues[message.source.removeprefix("/homeward/")].validate(message)
    made = next(e for e in history if e["type"] == "org.homeward.referral.ReferralMade.v1")
    assert made["data"]["shared_data"]["name"] == "Amani Zawadi-Kuvuka"  # opened for audit
    assert made["subject"] == case_id
