"""A whole journey across the three services, through the real broker only: release, interim
care, tracing and reunification, referrals to a school and a livelihood programme answered by
partners over Kafka, two years of follow-up visits with a re-recruitment alert, and closure."""

import uuid
from datetime import date

from services.followup.messages import CATALOGUE as FOLLOWUP_EVENTS
from services.intake.messages import CATALOGUE as INTAKE_EVENTS
from services.referral.messages import CATALOGUE as REFERRAL_EVENTS
from shared.kafka import AUDITOR, kafka_connection
from shared.keyring import CaseKeys
from shared.replay import read_case_messages
from tests.running import (
    EVENT_TOPICS,
    CaseInIntake,
    connected_partner,
    new_agency,
    referred,
    replay_case,
    wait_for,
)
from tests.samples import FAMILY_TRACING_CONSENT, TRACING_STARTED, registration
from tests.signin import supervisor_headers


def test_from_release_to_closure_across_the_platform(services, settings, tmp_path):
    clock, intake, referral, followup, keyring = services
    agency = new_agency(settings, intake, referral, followup)
    suffix = agency.removeprefix("CD-")
    school, training = f"SCH-{suffix}", f"LIV-{suffix}"
    child = CaseInIntake.register(intake, registration(registering_agency=agency))
    case_id, step = child.id, child.step

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
    child.safeguarded_return(settings)
    step(
        "interim-care/end",
        left_on="2026-10-12",
        exit_reason="family_reunification",
    )
    case = step("reunification", reunified_on="2026-10-12")
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
    partners = {}
    for partner, service, purpose in (
        (school, "education", "education"),
        (training, "livelihood", "livelihood"),
    ):
        partners[partner] = connected_partner(
            referral, settings, partner, service, tmp_path / partner
        )
        step(
            "consents",
            given_by="child_consent",
            purpose=purpose,
            recipients=[partner],
            categories=["identity"],
            given_on="2026-10-12",
        )
    try:
        for partner, service in ((school, "education"), (training, "livelihood")):
            referred(
                referral,
                case_id=case_id,
                agency=partner,
                service=service,
                purpose=service,
                categories=["identity"],
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
    child.case = raised  # the alert changed the case: the next step builds on that version
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
    recommended = wait_for(
        lambda: child.reload()["journey"]["closure_recommended_by_followup"],
        "follow-up's closure recommendation on the case",
    )
    assert recommended
    assert child.case["stage"] != "closed"  # a recommendation, not a decision
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
    case = step(
        "closure/approval",
        supervisor_headers(settings, agency),
        approved_on=clock.now.date().isoformat(),
    )
    assert case["stage"] == "closed"

    # An auditor replays the whole story from Kafka alone, across the three services.
    topics = EVENT_TOPICS
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
        assert any(kind.startswith(f"org.homeward.{expected}.v") for kind in kinds), expected
    # Every message each service published about the case matches its published schema.
    catalogues = {"intake": INTAKE_EVENTS, "referral": REFERRAL_EVENTS, "followup": FOLLOWUP_EVENTS}
    published = read_case_messages(audit, topics, uuid.UUID(case_id))
    assert len(published) == len(history)
    for message in published:
        catalogues[message.source.removeprefix("/homeward/")].validate(message)
    made = next(e for e in history if e["type"] == "org.homeward.referral.ReferralMade.v1")
    assert made["data"]["shared_data"]["name"] == "Amani Zawadi-Kuvuka"  # opened for audit
    assert made["subject"] == made["data"]["referral_id"]  # about the referral,
    assert made["caseid"] == case_id  # of the case
