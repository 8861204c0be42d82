"""Journeys as they happen, each end to end across the three services through the real broker
only: a return home that breaks down, a child mother with two children, a misspelt name
corrected, a detention with legal aid, a young person who turns 18 mid-case. Each prints one
line of figures: what each service published about its cases, and what partners received."""

import json
import time
import uuid
from datetime import date
from typing import Any

from fastapi.testclient import TestClient

from services.intake.api import CaseOut
from services.intake.casereplay import case_from_messages, facts_of_case
from services.referral.projections import IntakeView
from shared.kafka import AUDITOR, kafka_connection
from shared.keyring import CaseKeys
from shared.replay import read_case_messages
from shared.settings import Settings
from tests.partner import register_partner
from tests.running import (
    EVENT_TOPICS,
    CaseInIntake,
    connected_partner,
    has_applied,
    messages_per_service,
    new_agency,
    referred,
    replay_case,
    wait_for,
)
from tests.samples import (
    DETAINED,
    DETENTION_ENDED,
    FAMILY_TRACING_CONSENT,
    FOSTER_CARE,
    RETURN_BROKE_DOWN,
    TRACING_STARTED,
    boy_formally_released,
    identity_consent,
    registration,
)
from tests.signin import supervisor_headers


def referral_view(referral: TestClient) -> IntakeView:
    """What the referral service learnt of intake's cases from Kafka."""
    view: IntakeView = referral.app.state.runtime.application.intake  # type: ignore[attr-defined]
    return view


def referral_case_file(referral: TestClient, case_id: str) -> dict[str, Any]:
    """What the referral service keeps of a case to share with partners, opened."""
    found = referral_view(referral).case_data(uuid.UUID(case_id), "the journey's check")
    assert found is not None, f"the referral service does not know case {case_id}"
    case_file: dict[str, Any] = found[0]
    return case_file


def plan_of(followup: TestClient, case_id: str) -> dict[str, Any]:
    """The case's follow-up plan; empty while follow-up has made none."""
    answer = followup.get(f"/plans/{case_id}")
    return answer.json() if answer.status_code == 200 else {}


def due_visits(followup: TestClient, case_id: str) -> list[int]:
    due = followup.get("/visits/due", params={"caseworker": "cw-0412"}).json()
    return [visit["visit"] for visit in due if visit["case_id"] == case_id]


def versions_rebuilt_from_kafka(services: Any, settings: Settings, case_ids: list[str]) -> int:
    """How many versions of the cases an auditor rebuilt from Kafka and the keyring alone,
    each equal, field by field, to the case intake's store gives at that version."""
    _clock, intake, _referral, _followup, keyring = services
    application = intake.app.state.runtime.application
    audit = kafka_connection(settings, AUDITOR)
    keys = CaseKeys(keyring, "audit")
    compared = 0
    for case_id in map(uuid.UUID, case_ids):
        stored = application.history(case_id)
        facts = wait_for(
            lambda c=case_id, s=stored: (
                (f := facts_of_case(read_case_messages(audit, EVENT_TOPICS[:1], c), c))
                and len(f) == len(s)
                and f
            ),
            "every fact of the case on Kafka",
        )
        for event in stored:
            version, moment = event.originator_version, event.timestamp
            from_store = application.get_case(case_id, version=version)
            from_kafka = case_from_messages(facts, case_id, keys, version)
            assert CaseOut.of(from_kafka, application.programme, moment) == CaseOut.of(
                from_store, application.programme, moment
            ), f"case {case_id} at version {version}"
            compared += 1
    return compared


def figures(
    journey: str,
    started: float,
    services: Any,
    settings: Settings,
    case_ids: list[str],
    **seen: int,
) -> None:
    """One line: the messages each service published about the cases, what else was seen,
    the versions of the cases rebuilt from Kafka alone, and the seconds since ``started``."""
    seen["versions_rebuilt_from_kafka"] = versions_rebuilt_from_kafka(services, settings, case_ids)
    published = messages_per_service(settings, case_ids)
    print(
        f"\n{journey}: published "
        + ", ".join(f"{service} {count}" for service, count in sorted(published.items()))
        + "".join(f"; {what.replace('_', ' ')} {count}" for what, count in seen.items())
        + f"; {time.monotonic() - started:.1f} s"
    )


def test_a_reunification_that_breaks_down_ends_in_alternative_care(services, settings, tmp_path):
    started = time.monotonic()
    clock, intake, referral, followup, _keyring = services
    agency = new_agency(settings, intake, referral, followup)
    shelter = f"SH-{agency.removeprefix('CD-')}"
    girl = CaseInIntake.register(intake, registration(registering_agency=agency))
    case_id = girl.id

    # Home to her mother, with every safeguard; follow-up makes its plan from the return.
    girl.step("consents", **FAMILY_TRACING_CONSENT)
    girl.step("tracing", **TRACING_STARTED)
    clock.to(date(2026, 10, 12))
    girl.safeguarded_return(settings)
    girl.step("reunification", reunified_on="2026-10-12", address="Kibati camp, block C")
    plan = wait_for(lambda: plan_of(followup, case_id), "the follow-up plan of the return")
    assert (plan["returned_on"], plan["return_kind"]) == ("2026-10-12", "reunified")
    assert len(plan["visits"]) == 7

    # A shelter partner may learn who she is and where she lives, under her own consent.
    partner = connected_partner(
        referral, settings, shelter, "safe_shelter", tmp_path / shelter, kind="shelter"
    )
    girl.step(
        "consents",
        given_by="child_consent",
        purpose="shelter",
        recipients=[shelter],
        categories=["identity", "contact_and_location"],
        given_on="2026-10-12",
    )
    referral_body = {
        "case_id": case_id,
        "agency": shelter,
        "service": "safe_shelter",
        "purpose": "shelter",
        "categories": ["identity", "contact_and_location"],
    }

    def refer_and_receive() -> dict[str, Any]:
        """What the partner receives of a new referral; the referral is then withdrawn, so
        that the next one is new (one open referral per case, partner and service)."""
        made = referred(referral, **referral_body)
        received = partner.next_referral()
        assert received["referral_id"] == made["referral_id"]
        withdrawn = referral.post(
            f"/referrals/{made['referral_id']}/withdrawal", json={"reason": "Her home changed."}
        )
        assert withdrawn.status_code == 200, withdrawn.text
        shared: dict[str, Any] = received["shared_data"]
        return shared

    try:
        at_home = refer_and_receive()
        assert (at_home["lives_with"], at_home["address"]) == ("mother", "Kibati camp, block C")

        clock.to(date(2026, 10, 27))
        visited = followup.post(
            f"/plans/{case_id}/visits/1/completion",
            json={
                "version": plan["version"],
                "visited_on": "2026-10-27",
                "mode": "home",
                "wellbeing": "fair",
                "attending_school": False,
                "livelihood_status": "none",
                "family_acceptance": "poor",
                "community_acceptance": "fair",
                "stigma_reported": True,
                "security_threat": False,
                "re_recruitment_threat": False,
            },
        )
        assert visited.status_code == 200, visited.text
        clock.to(date(2026, 11, 20))
        # Visit 2 (2026-11-11) is overdue for her caseworker...
        wait_for(lambda: due_visits(followup, case_id) == [2], "the overdue visit 2")

        # ...until the return breaks down: no one is sent to a home she left.
        broke_down = girl.step("reunification/breakdown", **RETURN_BROKE_DOWN)
        assert broke_down["stage"] != "reunified"
        assert broke_down["journey"]["reunified_on"] is None
        called_off = wait_for(
            lambda: (
                (p := plan_of(followup, case_id))
                and {v["status"] for v in p["visits"][1:]} == {"called_off"}
                and p
            ),
            "follow-up to call off the visits at the home she left",
        )
        assert called_off["visits"][0]["status"] == "completed"
        wait_for(lambda: due_visits(followup, case_id) == [], "the due list without her visits")
        wait_for(
            lambda: referral_case_file(referral, case_id)["contact"] is None,
            "the referral service to forget where she lived",
        )
        after_breakdown = refer_and_receive()
        assert after_breakdown["name"] == "Amani Zawadi-Kuvuka"
        assert {after_breakdown[f] for f in ("lives_with", "address", "phone")} == {None}

        # A foster family takes her in: follow-up visits her there, from that day.
        clock.to(date(2026, 11, 25))
        placed = girl.step("alternative-care", **FOSTER_CARE)
        assert placed["stage"] == "alternative_care"
        rebased = wait_for(
            lambda: (
                (p := plan_of(followup, case_id)) and p["return_kind"] == "alternative_care" and p
            ),
            "follow-up to re-base the plan on the foster placement",
        )
        assert rebased["returned_on"] == FOSTER_CARE["arranged_on"]
        scheduled = [v for v in rebased["visits"] if v["status"] == "scheduled"]
        assert [v["number"] for v in scheduled] == list(range(8, 15))
        assert [v["due_on"] for v in scheduled][:2] == ["2026-12-09", "2026-12-25"]
        wait_for(
            lambda: referral_case_file(referral, case_id)["contact"] is not None,
            "the referral service to learn where she lives now",
        )
        in_foster_care = refer_and_receive()
        assert (in_foster_care["lives_with"], in_foster_care["address"]) == (
            FOSTER_CARE["carer"],
            FOSTER_CARE["address"],
        )
    finally:
        partner.close()

    # The history keeps the return, its breakdown and the care that followed, in order.
    facts = girl.timeline_types()
    returns = [
        f for f in facts if f in ("Reunified", "ReunificationBrokeDown", "AlternativeCareArranged")
    ]
    assert returns == ["Reunified", "ReunificationBrokeDown", "AlternativeCareArranged"]
    figures(
        "breakdown to alternative care",
        started,
        services,
        settings,
        [case_id],
        partner_messages=len(partner.received),
        facts_in_intake=len(facts),
    )


def test_a_child_mother_and_her_two_children_each_have_a_case_linked_both_ways(services, settings):
    started = time.monotonic()
    clock, intake, referral, followup, keyring = services
    agency = new_agency(settings, intake, referral, followup)
    mother = CaseInIntake.register(intake, registration(registering_agency=agency))
    clock.to(date(2026, 10, 20))
    children = {}
    for name, sex, born in (("Neema", "female", "2026-02-01"), ("Baraka", "male", "2026-10-18")):
        answer = intake.post(
            f"/cases/{mother.id}/children",
            json={
                "version": mother.case["version"],
                "name": name,
                "sex": sex,
                "date_of_birth": born,
            },
        )
        assert answer.status_code == 201, answer.text
        children[name] = CaseInIntake(intake, answer.json())
        mother.reload()
    neema, baraka = children["Neema"], children["Baraka"]

    # Linked both ways, on each case...
    assert mother.case["linked_cases"] == {neema.id: "child", baraka.id: "child"}
    for child in (neema, baraka):
        assert child.case["linked_cases"] == {mother.id: "mother"}
        assert child.case["registering_agency"] == agency
        assert child.case["caseworker"] == mother.case["caseworker"]
    assert neema.case["case_number"] != baraka.case["case_number"]
    # ...and on Kafka, sealed with each case's own key: an auditor opens every link.
    # (An auditor starting each time, holding no key in memory from an earlier read.)
    audit = kafka_connection(settings, AUDITOR)

    def links_on_kafka(case: CaseInIntake) -> dict[str, str]:
        keys = CaseKeys(keyring, "audit")
        history = replay_case(audit, EVENT_TOPICS[:1], uuid.UUID(case.id), keys)
        return {
            entry["data"]["linked_case_id"]: entry["data"]["relation"]
            for entry in history
            if entry["type"] == "org.homeward.intake.CaseLinked.v1"
        }

    assert wait_for(lambda: len(links_on_kafka(mother)) == 2, "the mother's links on Kafka")
    assert links_on_kafka(mother) == {neema.id: "child", baraka.id: "child"}
    for child in (neema, baraka):
        assert wait_for(lambda c=child: links_on_kafka(c), "a child's link on Kafka") == {
            mother.id: "mother"
        }
    # The children are cases the other services know too (registered through Kafka).
    for case in (mother, neema, baraka):
        wait_for(
            lambda c=case: referral_view(referral).case_data(uuid.UUID(c.id), "check"),
            "the referral service to know every case",
        )
    assert referral_case_file(referral, baraka.id)["name"] == "Baraka"

    # Neema's case is erased at her mother's request: her mother's and her brother's stay.
    erased = neema.step("erasure", supervisor_headers(settings, agency), reason="caregiver_request")
    assert erased["erased"] is True
    assert erased["name"] == "[erased]"
    for case, name in ((mother, "Amani Zawadi-Kuvuka"), (baraka, "Baraka")):
        shown = case.reload()
        assert (shown["name"], shown["erased"]) == (name, False)
        assert intake.get(f"/cases/{case.id}/timeline").status_code == 200
    assert mother.case["linked_cases"][baraka.id] == "child"
    assert baraka.case["linked_cases"] == {mother.id: "mother"}

    def listed() -> dict[str, str]:
        page = intake.get("/cases", params={"agency": agency}).json()
        return {item["case_id"]: item["name"] for item in page["items"]}

    assert wait_for(
        lambda: (names := listed()) and neema.id not in names and names,
        "the case list to drop the erased case",
    ) == {mother.id: "Amani Zawadi-Kuvuka", baraka.id: "Baraka"}
    wait_for(
        lambda: referral_view(referral).case_data(uuid.UUID(neema.id), "check") is None,
        "the referral service to forget the erased case",
    )
    assert referral_case_file(referral, mother.id)["name"] == "Amani Zawadi-Kuvuka"
    assert referral_case_file(referral, baraka.id)["name"] == "Baraka"

    # On Kafka the erased case reads [erased] once its key is destroyed; the others open.
    def registered_names() -> dict[str, str]:
        keys = CaseKeys(keyring, "audit")
        return {
            case.id: replay_case(audit, EVENT_TOPICS[:1], uuid.UUID(case.id), keys)[0]["data"][
                "name"
            ]
            for case in (mother, neema, baraka)
        }

    assert wait_for(
        lambda: (names := registered_names())[neema.id] == "[erased]" and names,
        "the erased case's key to be destroyed",
    ) == {mother.id: "Amani Zawadi-Kuvuka", neema.id: "[erased]", baraka.id: "Baraka"}
    assert links_on_kafka(mother) == {neema.id: "child", baraka.id: "child"}
    assert links_on_kafka(baraka) == {mother.id: "mother"}
    figures(
        "child mother with two children",
        started,
        services,
        settings,
        [mother.id, neema.id, baraka.id],
        cases=3,
        links_readable_after_erasure=len(links_on_kafka(mother)) + len(links_on_kafka(baraka)),
    )


def test_a_misspelt_name_is_corrected_and_every_service_learns_it(services, settings, tmp_path):
    started = time.monotonic()
    _clock, intake, referral, followup, _keyring = services
    agency = new_agency(settings, intake, referral, followup)
    school = f"SCH-{agency.removeprefix('CD-')}"
    misspelt, corrected = "Amani Zawadi-Kuvka", "Amani Zawadi-Kuvuka"
    girl = CaseInIntake.register(intake, registration(name=misspelt, registering_agency=agency))
    partner = connected_partner(referral, settings, school, "education", tmp_path / school)
    girl.step("consents", **identity_consent(school, "education", "2026-10-04"))
    referral_body = {
        "case_id": girl.id,
        "agency": school,
        "service": "education",
        "purpose": "education",
        "categories": ["identity"],
    }

    def listed_name() -> str:
        page = intake.get("/cases", params={"agency": agency}).json()
        return str(page["items"][0]["name"]) if page["items"] else ""

    try:
        # The school first receives the name as registered...
        first = referred(referral, **referral_body)
        assert partner.next_referral()["shared_data"]["name"] == misspelt
        assert wait_for(listed_name, "the case in the case list") == misspelt
        withdrawn = referral.post(
            f"/referrals/{first['referral_id']}/withdrawal", json={"reason": "Name misspelt."}
        )
        assert withdrawn.status_code == 200, withdrawn.text

        # ...then the caseworker corrects it, with the reason.
        shown = girl.step("corrections", name=corrected, reason="Misspelt at registration.")
        assert shown["name"] == corrected
        timeline = intake.get(f"/cases/{girl.id}/timeline").json()
        names = {
            entry["type"].split(".")[-2]: entry["data"].get("name") or entry["data"].get("value")
            for entry in timeline
            if entry["type"].split(".")[-2] in ("ChildRegistered", "FieldCorrected")
        }
        assert names == {"ChildRegistered": misspelt, "FieldCorrected": corrected}

        # The case list and the referral service learn it from Kafka alone.
        wait_for(lambda: listed_name() == corrected, "the case list to show the corrected name")
        wait_for(
            lambda: referral_case_file(referral, girl.id)["name"] == corrected,
            "the referral service to learn the corrected name",
        )
        second = referred(referral, **referral_body)
        received = partner.next_referral()
        assert received["referral_id"] == second["referral_id"]
        assert received["shared_data"]["name"] == corrected
    finally:
        partner.close()
    figures(
        "misspelt name corrected",
        started,
        services,
        settings,
        [girl.id],
        partner_messages=len(partner.received),
        timeline_entries=len(timeline),
    )


def test_a_detention_with_legal_aid_stays_with_the_case_agency(services, settings, tmp_path):
    started = time.monotonic()
    clock, intake, referral, followup, _keyring = services
    agency = new_agency(settings, intake, referral, followup)
    lawyers = f"LA-{agency.removeprefix('CD-')}"
    boy = CaseInIntake.register(intake, boy_formally_released(registering_agency=agency))
    clock.to(date(2026, 10, 6))

    def projected() -> bool:
        """The case list (and from it the statistics and the overdue list) caught up with
        the case, through Kafka."""
        page = intake.get("/cases", params={"agency": agency}).json()
        return bool(page["items"]) and page["items"][0]["version"] == boy.case["version"]

    def stage_counts() -> dict[str, int]:
        counts = intake.get("/statistics/stages", params={"agency": agency})
        assert counts.status_code == 200, counts.text
        assert counts.json()["total"] == 1
        return {stage: n for stage, n in counts.json()["stages"].items() if n}

    def overdue_kinds() -> list[str]:
        overdue = intake.get("/cases/overdue", params={"agency": agency})
        assert overdue.status_code == 200, overdue.text
        return [entry["kind"] for entry in overdue.json() if entry["case_id"] == boy.id]

    detained = boy.step("detention", **DETAINED)
    episode = {
        "started_on": DETAINED["started_on"],
        "legal_aid_provider": DETAINED["legal_aid_provider"],
    }
    assert episode.items() <= detained["journey"]["detention"].items()
    wait_for(projected, "the case list to see the detention")
    assert stage_counts() == {detained["stage"]: 1}
    assert overdue_kinds() == ["handover"]  # never handed over: 48 hours passed long ago

    # A legal aid partner gets what the boy consented to, and nothing of the detention.
    partner = connected_partner(
        referral, settings, lawyers, "legal_aid", tmp_path / lawyers, kind="legal_aid"
    )
    consented = ["identity", "legal", "association"]
    boy.step(
        "consents",
        given_by="child_consent",
        purpose="legal_aid",
        recipients=[lawyers],
        categories=consented,
        given_on="2026-10-06",
    )
    try:
        referred(
            referral,
            case_id=boy.id,
            agency=lawyers,
            service="legal_aid",
            purpose="legal_aid",
            categories=consented,
            written={"legal_needs": "Counsel before the military court."},
        )
        received = partner.next_referral()
    finally:
        partner.close()
    shared = received["shared_data"]
    assert shared["armed_group"] == "FARDC 3rd brigade"  # association, consented for legal aid
    assert shared["legal_needs"] == "Counsel before the military court."
    detention_values = [str(value) for value in DETAINED.values()]
    assert not [v for v in detention_values if v in json.dumps(received)]
    assert not [name for name in shared if "detention" in name or "detain" in name]
    case_file = json.dumps(referral_case_file(referral, boy.id))
    assert not [v for v in detention_values if v in case_file]

    # Released to child protection: the episode stays on the case, with its outcome.
    clock.to(date(2026, 10, 21))
    released = boy.step("detention/end", **DETENTION_ENDED)
    assert released["journey"]["detention"] is None  # not detained any more
    assert released["journey"]["detentions"] == [{**episode, **DETENTION_ENDED}]
    facts = boy.timeline_types()
    assert [f for f in facts if f.startswith("Detention")] == ["DetentionStarted", "DetentionEnded"]
    wait_for(projected, "the case list to see the detention's end")
    assert stage_counts() == {released["stage"]: 1}
    assert overdue_kinds() == ["handover"]
    figures(
        "detention with legal aid",
        started,
        services,
        settings,
        [boy.id],
        partner_messages=len(partner.received),
        fields_shared=len(shared),
    )


def test_a_young_person_who_turns_18_mid_case_leaves_with_a_transition_plan(
    services, settings, tmp_path
):
    started = time.monotonic()
    clock, intake, referral, followup, _keyring = services
    agency = new_agency(settings, intake, referral, followup)
    school = f"SCH-{agency.removeprefix('CD-')}"
    girl = CaseInIntake.register(
        intake,
        registration(date_of_birth="2012-06-01", estimated_age=14, registering_agency=agency),
    )
    assert girl.case["age"] == 14
    register_partner(referral, settings.kafka_bootstrap, school, "education", tmp_path / school)
    # At 14 her assent and her mother's consent together let the school know who she is.
    for given_by in ("child_assent", "caregiver_consent"):
        girl.step(
            "consents",
            given_by=given_by,
            purpose="education",
            recipients=[school],
            categories=["identity"],
            given_on="2026-10-04",
        )
    caregivers = [
        c["consent_id"] for c in girl.case["consents"] if c["given_by"] == "caregiver_consent"
    ]
    to_school = {
        "case_id": girl.id,
        "agency": school,
        "service": "education",
        "purpose": "education",
        "categories": ["identity"],
    }
    at_14 = referred(referral, **to_school)
    withdrawn = referral.post(
        f"/referrals/{at_14['referral_id']}/withdrawal", json={"reason": "School term over."}
    )
    assert withdrawn.status_code == 200, withdrawn.text
    clock.to(date(2026, 11, 25))
    girl.step("alternative-care", **FOSTER_CARE)
    plan = wait_for(lambda: plan_of(followup, girl.id), "the follow-up plan of her placement")

    # At 16 her own consent is needed; at 18 her mother's consent lapses.
    clock.to(date(2028, 6, 2))
    assert "own_consent_needed" in girl.reload()["alerts"]
    clock.to(date(2030, 6, 1))
    adult = girl.reload()
    assert adult["age"] == 18
    assert "consent_lapsed_at_18" in adult["alerts"]
    assert "transition_plan_needed" in adult["alerts"]
    assert adult["consents_to_renew"] == caregivers
    refused = referral.post("/referrals", json=to_school)
    assert refused.status_code == 409, refused.text
    assert "who decides by age" in refused.json()["detail"]
    assert "the child is 18" in refused.json()["detail"]

    # Her own consent: the alert goes and the school may hear of her again.
    girl.step("consents", **identity_consent(school, "education", "2030-06-01"))
    assert "consent_lapsed_at_18" not in girl.case["alerts"]
    referred(referral, **to_school)

    # A transition plan, and closure: asked by her caseworker, approved by someone else.
    girl.step(
        "case-plan",
        goals={
            "livelihood": "A tailoring apprenticeship.",
            "transition_to_adulthood": "A room of her own in Goma; the adult programme's "
            "counsellor takes over her support.",
        },
        child_participated=True,
        agreed_on="2030-06-01",
    )
    assert "transition_plan_needed" not in girl.case["alerts"]
    girl.step("closure", reason="turned_18_with_transition_plan", requested_on="2030-06-01")
    own_approval = intake.post(
        f"/cases/{girl.id}/closure/approval",
        json={"version": girl.case["version"], "approved_on": "2030-06-01"},
    )
    assert own_approval.status_code == 403, own_approval.text
    closed = girl.step(
        "closure/approval", supervisor_headers(settings, agency), approved_on="2030-06-01"
    )
    assert closed["stage"] == "closed"
    assert closed["journey"]["closure"]["reason"] == "turned_18_with_transition_plan"

    # Follow-up has seen the closure and keeps her plan: an adult keeps follow-up.
    audit = kafka_connection(settings, AUDITOR)
    closure = wait_for(
        lambda: [
            m
            for m in read_case_messages(audit, EVENT_TOPICS[:1], uuid.UUID(girl.id))
            if m.type == "org.homeward.intake.CaseClosed.v1"
        ],
        "the closure on Kafka",
    )[0]
    wait_for(
        lambda: has_applied(followup, "homeward.followup.intake", closure.id),
        "follow-up to read the closure",
    )
    kept = plan_of(followup, girl.id)
    assert kept["cancelled"] is False
    assert kept["version"] == plan["version"]  # the closure changed nothing in it
    assert len(due_visits(followup, girl.id)) == len(plan["visits"])  # all due by now
    figures(
        "turns 18 mid-case",
        started,
        services,
        settings,
        [girl.id],
        consents=len(girl.case["consents"]),
        visits_still_due=len(plan["visits"]),
    )
