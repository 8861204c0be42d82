from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

import pytest
from jsonschema import ValidationError

from services.referral.domain import (
    Milestone,
    Referral,
    ReferralRuleViolation,
    ServiceKind,
    Urgency,
)
from services.referral.messages import PARTNER_ANSWER_ENVELOPE, PARTNER_ANSWERS
from shared.consent import DataCategory, Purpose
from shared.publishing import checked_in_schema, load_schema, validate_data

MADE = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def referral(urgency: Urgency = Urgency.ROUTINE) -> Referral:
    return Referral.make(
        case_id=uuid4(),
        agency="SCH-GOMA",
        service=ServiceKind.EDUCATION,
        purpose=Purpose.EDUCATION,
        urgency=urgency,
        categories=[DataCategory.IDENTITY],
        consent_ids=[uuid4()],
        shared_data={"name": "x"},
        answer_by=Referral.answer_deadline(MADE, urgency, timedelta(days=7), timedelta(hours=24)),
        made_by="cw-1",
        referring_agency="CD-KIN",
    )


def test_the_lifecycle_follows_the_partners_answers():
    made = referral()
    made.accept("m1")
    made.start_service("m2", date(2026, 11, 24))
    made.report_milestone("m3", Milestone.EDUCATION_ENROLLED, date(2026, 11, 24), None)
    made.complete("m4", date(2027, 6, 30))
    assert made.state == "completed"
    assert made.milestones == [("education_enrolled", date(2026, 11, 24))]
    assert all(made.has_applied(m) for m in ("m1", "m2", "m3", "m4"))


def test_the_answers_open_are_those_the_referrals_state_takes():
    made = referral()
    assert made.answers_open() == ["accepted", "declined"]
    made.accept("m1")
    assert made.answers_open() == ["service_started", "service_discontinued"]
    made.start_service("m2", date(2026, 11, 24))
    assert made.answers_open() == ["milestone", "service_completed", "service_discontinued"]
    made.complete("m3", date(2027, 6, 30))
    assert made.answers_open() == []
    made.withdraw_data("consent_withdrawn", None, MADE)
    assert made.answers_open() == ["data_deleted"]
    made.acknowledge_deletion("m4", date(2027, 7, 1))
    assert made.answers_open() == []


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (lambda r: r.start_service("m", date(2026, 11, 24)), "cannot be started"),
        (lambda r: r.complete("m", date(2026, 11, 24)), "cannot be completed"),
        (lambda r: r.decline("m", "  "), "needs a reason"),
    ],
)
def test_answers_that_make_no_sense_are_refused(answer, message):
    made = referral()
    with pytest.raises(ReferralRuleViolation, match=message):
        answer(made)
    assert made.state == "awaiting_answer"


def test_an_unanswered_referral_expires_after_its_deadline_urgent_ones_sooner():
    routine, urgent = referral(), referral(Urgency.URGENT)
    day_and_a_half = MADE + timedelta(hours=36)
    assert not routine.expire_if_unanswered(day_and_a_half)
    assert urgent.expire_if_unanswered(day_and_a_half)
    assert routine.expire_if_unanswered(MADE + timedelta(days=8))
    with pytest.raises(ReferralRuleViolation, match="expired"):
        routine.accept("late")


def test_data_is_withdrawn_once_whatever_state_the_referral_is_in():
    made = referral()
    made.decline("m1", "full")
    assert made.withdraw_data("consent_withdrawn", None, MADE)
    assert not made.withdraw_data("consent_expired", None, MADE + timedelta(days=1))
    assert made.state == "data_withdrawn"
    assert made.withdrawal_cause == "consent_withdrawn"


def test_a_deletion_is_acknowledged_only_after_the_notice_and_once():
    made = referral()
    with pytest.raises(ReferralRuleViolation, match="cannot be acknowledged as deleted"):
        made.acknowledge_deletion("m1", date(2026, 11, 24))
    assert made.data_deleted_on is None
    made.withdraw_data("consent_withdrawn", None, MADE)
    made.acknowledge_deletion("m2", date(2026, 11, 25))
    assert made.data_deleted_on == date(2026, 11, 25)
    assert made.has_applied("m2")
    with pytest.raises(ReferralRuleViolation, match="acknowledged the deletion already"):
        made.acknowledge_deletion("m3", date(2026, 11, 26))
    assert made.data_deleted_on == date(2026, 11, 25)
    assert made.state == "data_withdrawn"


def test_a_deletion_not_acknowledged_within_its_delay_is_overdue():
    made, week = referral(), timedelta(days=7)
    assert made.deletion_due_by(week) is None
    assert not made.deletion_overdue(MADE + timedelta(days=365), week)
    told = MADE + timedelta(days=2)
    made.withdraw_data("consent_expired", None, told)
    assert made.deletion_due_by(week) == told + week
    assert not made.deletion_overdue(told + week, week)
    assert made.deletion_overdue(told + week + timedelta(seconds=1), week)
    made.acknowledge_deletion("m1", (told + timedelta(days=9)).date())
    assert not made.deletion_overdue(told + timedelta(days=30), week)


@pytest.mark.parametrize("answer_type", sorted(PARTNER_ANSWERS))
def test_every_partner_answer_has_its_checked_in_schema(answer_type):
    name = answer_type.split(".")[3]
    schema = load_schema("partner", name, 1)
    assert schema["$id"] == f"urn:homeward:schema:partner.{name}.v1"
    assert "referral_id" in schema["required"]
    envelope = checked_in_schema(PARTNER_ANSWER_ENVELOPE)
    assert schema["x-envelope"] == envelope["$id"]


def test_every_answer_names_its_referral_and_when_it_was_given():
    envelope = checked_in_schema(PARTNER_ANSWER_ENVELOPE)
    assert {"id", "source", "type", "subject", "time"} <= set(envelope["required"])


def test_a_deletion_acknowledgement_names_the_day_of_the_deletion():
    referral_id = str(uuid4())
    validate_data(
        "partner",
        "ReferralDataDeleted",
        1,
        {"referral_id": referral_id, "deleted_on": "2026-11-24"},
    )
    for wrong in (
        {"referral_id": referral_id},
        {"referral_id": referral_id, "deleted_on": "today"},
    ):
        with pytest.raises(ValidationError):
            validate_data("partner", "ReferralDataDeleted", 1, wrong)
