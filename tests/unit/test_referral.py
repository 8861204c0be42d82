from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

import pytest

from services.referral.domain import (
    Milestone,
    Referral,
    ReferralRuleViolation,
    ServiceKind,
    Urgency,
)
from shared.consent import DataCategory, Purpose

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
    assert made.withdraw_data("consent_withdrawn", None)
    assert not made.withdraw_data("consent_withdrawn", None)
    assert made.state == "data_withdrawn"
