"""Three children's journeys through the intake API, step by step, checked against the case's
state, its timeline, its flags, the projections, and the events on `homeward.intake.events`.

(a) a 15-year-old girl with a baby, escaped from a non-state armed group, reunified after
tracing; (b) a 16-year-old boy formally released under an action plan, family not found, placed
in foster care; (c) a person assessed as 18 or over.
"""

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from kafka import KafkaConsumer, TopicPartition

from services.intake.messages import CATALOGUE
from services.intake.service import build_runtime, create_app
from shared.access import Role
from shared.allowlist import is_clear
from shared.crypto import is_sealed
from shared.envelope import CloudEvent, event_type
from shared.privacy import open_fields
from tests.conftest import as_admin
from tests.samples import boy_formally_released, person_of_uncertain_age, registration
from tests.signin import staff_headers

TOPIC = "homeward.intake.events"

# Each event's type as intake publishes it now (its current version).
PUBLISHED_AS = {
    entry.name: event_type("intake", entry.name, entry.version) for entry in CATALOGUE.published
}


class MovableClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class KafkaTail:
    """Every message published on the topic after it was made, by case, read like a partner."""

    def __init__(self, client: dict) -> None:
        self.consumer = KafkaConsumer(**client, enable_auto_commit=False)
        partitions = [
            TopicPartition(TOPIC, p) for p in self.consumer.partitions_for_topic(TOPIC) or ()
        ]
        self.consumer.assign(partitions)
        self.consumer.seek_to_end(*partitions)
        for partition in partitions:
            self.consumer.position(partition)  # fix the start now, before anything is sent
        self.seen: dict[str, list[CloudEvent]] = {}

    def messages(self, case_id: str, count: int, timeout: float = 20) -> list[CloudEvent]:
        deadline = time.monotonic() + timeout
        while len(self.seen.get(case_id, [])) < count and time.monotonic() < deadline:
            for records in self.consumer.poll(timeout_ms=200).values():
                for record in records:
                    message = CloudEvent.from_bytes(record.value)
                    CATALOGUE.validate(message)  # every message, against its published schema
                    self.seen.setdefault(record.key.decode(), []).append(message)
        return self.seen.get(case_id, [])

    def close(self) -> None:
        self.consumer.close(autocommit=False)


def wait_until(check: Any, timeout: float = 20) -> Any:
    """Poll an eventually consistent read model until ``check`` returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.1)


class Journey:
    """One case driven through the API, each step checked on Kafka as it is taken."""

    def __init__(self, client: TestClient, tail: KafkaTail, runtime: Any, body: dict) -> None:
        self.client, self.tail, self.runtime = client, tail, runtime
        # A caseworker of the case's own agency works the journey.
        client.headers.update(staff_headers(runtime.settings, agency=body["registering_agency"]))
        response = client.post("/cases", json=body)
        assert response.status_code == 201, response.text
        self.case = response.json()
        self.id = self.case["case_id"]
        self.published = len(self.expect_published("ChildRegistered", *self.handover_types()))

    def handover_types(self) -> tuple[str, ...]:
        return ("HandedOver",) if self.case["handover"] else ()

    def step(self, path: str, body: dict, *, status: int = 200, supervisor: bool = False) -> dict:
        headers = None
        if supervisor:  # approvals and reassignments: a supervisor other than the caseworker
            headers = staff_headers(
                self.runtime.settings,
                role=Role.SUPERVISOR,
                agency=self.case["registering_agency"],
                sub="sup-07",
            )
        response = self.client.post(
            f"/cases/{self.id}/{path}",
            json={"version": self.case["version"], **body},
            headers=headers,
        )
        assert response.status_code == status, response.text
        if status == 200:
            self.case = response.json()
        return response.json()

    def refused(self, path: str, body: dict, status: int = 409) -> str:
        """A step the rules refuse: nothing is recorded, and the answer says why."""
        detail = self.step(path, body, status=status)["detail"]
        assert self.client.get(f"/cases/{self.id}").json()["version"] == self.case["version"]
        return detail

    def expect_published(self, *names: str) -> list[CloudEvent]:
        """The next messages of this case on Kafka are these types, in this order."""
        start = getattr(self, "published", 0)
        messages = self.tail.messages(self.id, start + len(names))
        assert [m.type for m in messages[start:]] == [PUBLISHED_AS[name] for name in names]
        self.published = start + len(names)
        assert [int(m.sequence or 0) for m in messages] == list(range(1, len(messages) + 1))
        return messages[start:]

    def took(self, path: str, body: dict, name: str, *, supervisor: bool = False) -> CloudEvent:
        """The step's message, checked sealed but for the allow-listed fields, then opened."""
        self.step(path, body, supervisor=supervisor)
        (message,) = self.expect_published(name)
        assert message.data.get("stage", self.case["stage"]) == self.case["stage"]
        for field, value in message.data.items():
            assert is_clear(field) or is_sealed(value), (name, field)
        key = self.runtime.application.case_keys.for_opening(uuid.UUID(self.id), "test")
        return message.model_copy(update={"data": open_fields(message.data, key)})

    def listed(self, **filters: Any) -> list[dict]:
        params = {"agency": self.case["registering_agency"], **filters}
        return self.client.get("/cases", params=params).json()["items"]

    def listed_as(self, **expected: Any) -> dict:
        """Wait for the case list (kept from Kafka) to show this case as expected."""

        def row() -> dict | None:
            found = [r for r in self.listed() if r["case_id"] == self.id]
            if found and all(found[0][k] == v for k, v in expected.items()):
                return found[0]
            return None

        found = wait_until(row)
        assert found, f"the case list never showed {expected}: {self.listed()}"
        return found

    def overdue_kinds(self) -> list[str]:
        params = {"agency": self.case["registering_agency"]}
        items = self.client.get("/cases/overdue", params=params).json()
        return sorted(item["kind"] for item in items if item["case_id"] == self.id)

    def timeline(self) -> list[dict]:
        return self.client.get(f"/cases/{self.id}/timeline").json()


def agency() -> str:
    """An agency of the test's own, so the case list shows only the test's cases."""
    return f"CD-{uuid.uuid4().hex[:6].upper()}"


@pytest.fixture
def platform(settings, sqlite_env):
    clock = MovableClock(datetime(2026, 10, 4, 12, 0, tzinfo=UTC))
    runtime = build_runtime(settings, sqlite_env, clock=clock)
    tail = KafkaTail(as_admin(settings))
    with TestClient(create_app(runtime), headers=staff_headers(runtime.settings)) as client:
        yield client, tail, runtime, clock
    tail.close()


def consent_for_tracing(journey: Journey, to: str = "CD-ICRC") -> str:
    response = journey.client.post(
        f"/cases/{journey.id}/consents",
        json={
            "version": journey.case["version"],
            "given_by": "child_consent",
            "purpose": "family_tracing",
            "recipients": [to],
            "categories": ["identity", "family", "contact_and_location"],
            "given_on": "2026-10-04",
        },
    )
    assert response.status_code == 201, response.text
    journey.case = response.json()
    journey.expect_published("ConsentGiven")
    return journey.case["consents"][-1]["consent_id"]


def test_a_girl_with_a_baby_escaped_from_an_armed_group_is_reunified_after_tracing(platform):
    client, tail, runtime, clock = platform
    girl = Journey(client, tail, runtime, registration(registering_agency=agency()))
    assert girl.case["stage"] == "handed_over"
    assert girl.case["deadlines"][0]["kind"] == "handover"
    assert girl.case["deadlines"][0]["status"] == "met"  # 31.5 hours after the release day
    assert girl.listed_as(stage="handed_over")["name"] == "Amani Zawadi-Kuvuka"

    assessed = girl.took(
        "age-assessment",
        {
            "method": "interview",
            "result": "uncertain",
            "assessed_on": "2026-10-04",
        },
        "AgeAssessed",
    )
    assert assessed.data["route"] == "child_protection"  # uncertain: treated as a child
    assert girl.case["route"] == "child_protection"

    needs = girl.took(
        "needs-assessment",
        {
            "needs": ["health", "psychosocial", "education"],
            "flags": ["separated"],
            "dependants": [{"name": "Neema", "sex": "female", "date_of_birth": "2026-05-02"}],
            "sexual_violence_survivor": True,
            "sexual_violence_details": "Held as a 'wife' by a commander for eight months.",
            "assessed_on": "2026-10-04",
        },
        "NeedsAssessed",
    )
    assert girl.case["journey"]["protection_flags"] == ["separated", "child_mother"]
    assert girl.case["journey"]["dependants"][0]["name"] == "Neema"
    assert needs.data["dependants_count"] == 1
    assert needs.data["dependants"][0]["name"] == "Neema"
    assert needs.data["sexual_violence"]["survivor"] is True
    assert "sexual_violence" not in str(girl.case)  # extra-restricted: not in the case view

    girl.took(
        "risk-level",
        {
            "level": "high",
            "reason": "Commander's men were seen asking for her in the market.",
            "set_at": "2026-10-04T12:00:00Z",
        },
        "RiskLevelSet",
    )
    girl.took(
        "interim-care",
        {
            "kind": "interim_care_centre",
            "carer": "Centre de transit et d'orientation, Goma",
            "entered_on": "2026-10-04",
        },
        "InterimCarePlaced",
    )
    assert girl.case["stage"] == "interim_care"

    detail = girl.refused(
        "tracing",
        {
            "tracing_agency": "CD-ICRC",
            "started_on": "2026-10-04",
            "sought": "My mother Furaha and my little brothers.",
        },
    )
    assert "family_tracing" in detail
    assert "Furaha" not in detail

    clock.advance(hours=30)  # 2026-10-05 18:00: the high-risk response (24 h) is overdue
    assert "risk_response_overdue" in client.get(f"/cases/{girl.id}").json()["alerts"]
    assert wait_until(lambda: girl.overdue_kinds() == ["risk_response"])
    assert girl.listed(overdue=True)[0]["overdue"] == ["risk_response"]
    girl.took(
        "risk-response",
        {
            "action": "Moved to the centre's protected wing; police informed.",
            "responded_at": "2026-10-05T17:00:00Z",
        },
        "RiskResponded",
    )
    assert "risk_response_late" in girl.case["alerts"]
    assert wait_until(lambda: girl.overdue_kinds() == [])

    consent_id = consent_for_tracing(girl)
    started = girl.took(
        "tracing",
        {
            "tracing_agency": "CD-ICRC",
            "started_on": "2026-10-05",
            "sought": "My mother Furaha and my little brothers.",
            "last_known_place": "Minova, near the church",
        },
        "TracingStarted",
    )
    assert started.data["consent_id"] == consent_id
    assert girl.case["stage"] == "tracing"
    assert started.data["last_known_place"] == "Minova, near the church"

    assert girl.refused("reunification", {"reunified_on": "2026-10-05"}).startswith(
        f"case {girl.id} cannot be reunified before the family is located"
    )
    girl.took(
        "tracing/leads",
        {
            "source": "community",
            "lead": "A trader says the family moved to Kibati camp.",
            "recorded_on": "2026-10-05",
        },
        "TracingLeadRecorded",
    )
    located = girl.took(
        "tracing/family-located",
        {
            "relationship": "mother",
            "family_members": ["Furaha Zawadi", "Juma Zawadi"],
            "whereabouts": "Kibati camp, block C",
            "phone": "+243 970 111 222",
            "relationship_verified": True,
            "located_on": "2026-10-05",
        },
        "FamilyLocated",
    )
    assert located.data["family_members"] == ["Furaha Zawadi", "Juma Zawadi"]
    girl.took(
        "tracing/family-assessment",
        {
            "willing": True,
            "able": True,
            "safe": True,
            "child_willing": True,
            "assessed_on": "2026-10-05",
        },
        "FamilyAssessed",
    )
    assert girl.case["journey"]["tracing"]["assessment"]["suitable"] is True
    unsafe = girl.refused("reunification", {"reunified_on": "2026-10-05"})
    assert "rule 'safeguards before return'" in unsafe
    for side in ("child", "family"):
        girl.took(
            "tracing/relationship-verification",
            {"verified_with": side, "verified_on": "2026-10-05"},
            "RelationshipVerified",
        )
    girl.took(
        "tracing/return-check",
        {"community_acceptance": "fair", "re_recruitment_risk": "low", "checked_on": "2026-10-05"},
        "ReturnChecked",
    )
    own_approval = girl.refused(
        "tracing/return-approval",
        {"reason": "Her mother is ready and the village is calm.", "approved_on": "2026-10-05"},
        status=403,
    )
    assert "approve" in own_approval
    girl.took(
        "tracing/return-approval",
        {"reason": "Her mother is ready and the village is calm.", "approved_on": "2026-10-05"},
        "ReturnApproved",
        supervisor=True,
    )
    assert "interim care" in girl.refused("reunification", {"reunified_on": "2026-10-05"})
    girl.took(
        "interim-care/end",
        {"left_on": "2026-10-05", "exit_reason": "family_reunification"},
        "InterimCareEnded",
    )
    girl.took(
        "reunification",
        {"reunified_on": "2026-10-05", "address": "Kibati, block C"},
        "Reunified",
    )
    assert girl.case["stage"] == "reunified"
    girl.took(
        "case-plan",
        {
            "goals": {
                "education": "Back to grade 8 at the Kibati school.",
                "psychosocial_support": "Weekly group sessions for young mothers.",
                "health": "Post-natal check-ups for her and Neema.",
            },
            "child_participated": True,
            "child_views": "I want to finish school and to keep Neema with me.",
            "agreed_on": "2026-10-05",
        },
        "CasePlanAgreed",
    )
    assert girl.case["journey"]["case_plan"]["child_participated"] is True

    timeline = girl.timeline()
    assert [entry["type"].split(".")[3] for entry in timeline[:3]] == [
        "CasePlanAgreed",
        "Reunified",
        "InterimCareEnded",
    ]
    assert timeline[-1]["type"] == "org.homeward.intake.ChildRegistered.v2"
    assert [entry["version"] for entry in timeline] == list(range(len(timeline), 0, -1))
    by_type = {entry["type"].split(".")[3]: entry["data"] for entry in timeline}
    assert by_type["FamilyLocated"]["whereabouts"] == "Kibati camp, block C"
    # Her caseworker holds read_sexual_violence; the restricted field opens for them only.
    assert by_type["NeedsAssessed"]["sexual_violence"]["survivor"] is True
    assert by_type["ChildRegistered"]["name"] == "Amani Zawadi-Kuvuka"
    assert girl.listed_as(stage="reunified", risk_level="high")["flags"] == [
        "separated",
        "child_mother",
    ]


def test_a_boy_released_under_an_action_plan_whose_family_is_not_found_goes_to_foster_care(
    platform,
):
    client, tail, runtime, clock = platform
    boy = Journey(client, tail, runtime, boy_formally_released(registering_agency=agency()))
    assert boy.case["stage"] == "registered"
    # Released on 1 October, still in military hands on the 4th: past the 48-hour limit.
    assert boy.case["alerts"] == ["handover_overdue"]
    assert wait_until(lambda: boy.overdue_kinds() == ["handover"])

    stale = boy.case["version"]
    boy.took(
        "handover",
        {"from_actor": "FARDC 3rd brigade", "to_agency": "CD-KIN", "at": "2026-10-04T10:00:00Z"},
        "HandedOver",
    )
    assert boy.case["stage"] == "handed_over"
    assert boy.case["alerts"] == ["handover_late"]
    response = client.post(
        f"/cases/{boy.id}/age-assessment",
        json={
            "version": stale,
            "method": "documents",
            "result": "under_18",
            "assessed_on": "2026-10-04",
        },
    )
    assert response.status_code == 409
    assert "reload it" in response.json()["detail"]
    assert "already handed over" in boy.refused(
        "handover", {"from_actor": "X", "to_agency": "CD-KIN", "at": "2026-10-04T10:00:00Z"}
    )
    assert wait_until(lambda: boy.overdue_kinds() == [])

    boy.took(
        "interim-care",
        {
            "kind": "foster_family",
            "carer": "Famille Kabila-Mwamba",
            "address": "Goma, quartier Katindo, avenue 7",
            "entered_on": "2026-10-04",
        },
        "InterimCarePlaced",
    )
    tracing_consent = consent_for_tracing(boy)
    boy.took(
        "tracing",
        {
            "tracing_agency": "CD-ICRC",
            "started_on": "2026-10-04",
            "sought": "My father, a fisherman at Lake Kivu.",
        },
        "TracingStarted",
    )
    assert "tracing is still open" in boy.refused(
        "alternative-care",
        {
            "kind": "foster_care",
            "carer": "Famille Kabila-Mwamba",
            "arranged_on": "2026-10-04",
        },
    )
    boy.took(
        "tracing/leads",
        {
            "source": "tracing_network",
            "lead": "A fisherman of that name in Kituku; not him.",
            "recorded_on": "2026-10-04",
        },
        "TracingLeadRecorded",
    )
    # The boy withdraws his consent: tracing pauses (no lead recorded), and may still close.
    boy.took(f"consents/{tracing_consent}/withdrawal", {}, "ConsentWithdrawn")
    assert "tracing pauses without a valid tracing consent" in boy.refused(
        "tracing/leads",
        {"source": "tracing_network", "lead": "Another fisherman.", "recorded_on": "2026-10-04"},
    )
    clock.advance(weeks=13)  # 3 January 2027: twelve weeks in interim care have passed
    boy.took(
        "tracing/closure",
        {"reason": "consent_withdrawn", "closed_on": "2027-01-03"},
        "TracingClosedUnsuccessful",
    )
    assert boy.case["stage"] == "interim_care"
    assert "interim_care_overdue" in boy.case["alerts"]
    assert wait_until(lambda: boy.overdue_kinds() == ["interim_care"])
    boy.took(
        "interim-care/extension",
        {
            "until": "2027-01-31",
            "reason": "Foster family assessed for long-term care.",
        },
        "InterimCareExtended",
        supervisor=True,
    )
    assert wait_until(lambda: boy.overdue_kinds() == [])
    boy.took(
        "interim-care/end",
        {"left_on": "2027-01-03", "exit_reason": "alternative_care"},
        "InterimCareEnded",
    )
    foster = boy.took(
        "alternative-care",
        {
            "kind": "foster_care",
            "carer": "Famille Kabila-Mwamba",
            "address": "Goma, quartier Katindo, avenue 7",
            "arranged_on": "2027-01-03",
        },
        "AlternativeCareArranged",
    )
    assert boy.case["stage"] == "alternative_care"
    assert foster.data["carer"] == "Famille Kabila-Mwamba"

    boy.took(
        "assignment",
        {"caseworker": "cw-0977", "assigned_on": "2027-01-03"},
        "CaseAssigned",
        supervisor=True,
    )
    assert boy.listed_as(caseworker="cw-0977", stage="alternative_care")
    assert [r["case_id"] for r in boy.listed(caseworker="cw-0977")] == [boy.id]
    boy.took(
        "case-plan",
        {
            "goals": {"livelihood": "Carpentry apprenticeship with his foster uncle."},
            "child_participated": True,
            "agreed_on": "2027-01-03",
        },
        "CasePlanAgreed",
    )
    boy.took(
        "closure",
        {"reason": "reintegration_goals_met", "requested_on": "2027-01-03"},
        "ClosureRequested",
    )
    assert boy.case["stage"] == "alternative_care"  # asked for, until a supervisor approves
    boy.took("closure/approval", {"approved_on": "2027-01-03"}, "CaseClosed", supervisor=True)
    assert boy.case["stage"] == "closed"
    assert boy.case["deadlines"] == []
    assert "already closed" in boy.refused(
        "closure",
        {"reason": "lost_contact", "requested_on": "2027-01-03"},
    )
    assert "reopen it first" in boy.refused(
        "case-plan",
        {
            "goals": {"livelihood": "Apprenticeship."},
            "child_participated": True,
            "agreed_on": "2027-01-03",
        },
    )
    boy.took(
        "reopening",
        {
            "reason": "Foster placement under strain.",
            "reopened_on": "2027-01-03",
        },
        "CaseReopened",
    )
    assert boy.case["stage"] == "alternative_care"
    assert boy.listed_as(stage="alternative_care", caseworker="cw-0977")


def test_a_person_assessed_as_18_or_over_moves_to_the_adult_pathway_and_keeps_the_record(
    platform,
):
    client, tail, runtime, _clock = platform
    person = Journey(client, tail, runtime, person_of_uncertain_age(registering_agency=agency()))
    medical = {
        "method": "medical",
        "result": "18_or_over",
        "assessed_on": "2026-10-04",
    }
    assert "last resort" in person.refused("age-assessment", medical)
    person.took(
        "age-assessment",
        {
            "method": "community",
            "result": "uncertain",
            "assessed_on": "2026-10-03",
            "notes": "Neighbours disagree on his year of birth.",
        },
        "AgeAssessed",
    )
    assert person.case["stage"] == "handed_over"
    assessed = person.took("age-assessment", medical, "AgeAssessed")
    assert assessed.data["route"] == "adult_pathway"
    assert person.case["route"] == "adult_pathway"
    assert person.case["stage"] == "adult_pathway"
    assert person.case["name"] == "Jean-Pierre Habimana"  # nothing is deleted

    # Recruited as a child, the person keeps the reintegration pathway (OPAC art. 6(3)).
    person.took(
        "interim-care",
        {
            "kind": "interim_care_centre",
            "carer": "CTO Goma",
            "entered_on": "2026-10-04",
        },
        "InterimCarePlaced",
    )
    assert person.case["stage"] == "adult_pathway"
    person.took(
        "interim-care/end",
        {"left_on": "2026-10-04", "exit_reason": "other"},
        "InterimCareEnded",
    )
    assert "in the future" in person.refused(
        "closure",
        {"reason": "turned_18_and_transferred", "requested_on": "2026-10-05"},
        status=422,
    )
    person.took(
        "closure",
        {"reason": "turned_18_and_transferred", "requested_on": "2026-10-04"},
        "ClosureRequested",
    )
    person.took("closure/approval", {"approved_on": "2026-10-04"}, "CaseClosed", supervisor=True)
    assert person.listed_as(stage="closed", route="adult_pathway")
    stages = client.get(
        "/statistics/stages", params={"agency": person.case["registering_agency"]}
    ).json()
    assert stages["total"] == 1
    assert stages["stages"]["closed"] == 1
    assert "Jean-Pierre" not in str(stages)
    assert len(person.timeline()) == person.case["version"]
