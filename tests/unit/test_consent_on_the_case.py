"""The consent rules as a case applies them: who may give consent at the child's age today,
the maturity assessment, best-interests decisions, the child's refusals, and the birthdays
that call for the child's own consent."""

from dataclasses import replace
from datetime import UTC, date, datetime
from uuid import uuid4

import pytest

from services.intake.domain import (
    BestInterests,
    BestInterestsGrounds,
    ChildCase,
    Consent,
    ConsentMissing,
    DisclosureRefusal,
    InvalidCaseData,
    MaturityAssessment,
    TracingRequest,
)
from shared.consent import AgeTable, ConsentGiver, DataCategory, Purpose
from tests.unit.test_child_case import REGISTRATION

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
TABLE = AgeTable()
BORN = date(2014, 6, 15)  # 12 on NOW
TRACING = Consent(
    given_by=ConsentGiver.CAREGIVER_CONSENT,
    purpose=Purpose.FAMILY_TRACING,
    recipients=("CD-ICRC",),
    categories=(DataCategory.IDENTITY, DataCategory.FAMILY),
    given_on=date(2026, 11, 21),
    recorded_by="cw-9",
)
BEST_INTERESTS = BestInterests(
    BestInterestsGrounds.CAREGIVER_UNREACHABLE,
    "Both parents are missing since the attack on the village; tracing has not started.",
)


def case_of(**changes) -> ChildCase:
    case = ChildCase.register(
        replace(REGISTRATION, **{"estimated_age": 12, "date_of_birth": BORN, **changes}),
        "CD-BUN-2026-00001",
        NOW,
    )
    case.collect_events()
    return case


def at(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, 12, tzinfo=UTC)


def start_tracing(case: ChildCase, now: datetime) -> None:
    case.start_tracing(TracingRequest("CD-ICRC", "cw-9", now.date(), "my mother"), now, TABLE)


def test_the_case_counts_the_age_from_the_date_of_birth_else_the_estimate_at_release():
    assert case_of().age(NOW, TABLE) == 12
    assert case_of().age(at(2029, 6, 15), TABLE) == 15
    estimated = ChildCase.register(replace(REGISTRATION, estimated_age=14), "CD-1", NOW)
    assert estimated.age(NOW, TABLE) == 14
    assert estimated.age(at(2027, 11, 20), TABLE) == 15  # a year after the release


def test_a_child_under_12_cannot_consent_alone():
    young = case_of(date_of_birth=date(2016, 1, 1))
    own = replace(TRACING, given_by=ConsentGiver.CHILD_CONSENT)
    with pytest.raises(InvalidCaseData, match="a child of 10 cannot consent alone"):
        young.give_consent(own, uuid4(), NOW, TABLE)
    young.give_consent(TRACING, uuid4(), NOW, TABLE)
    assert len(young.consents) == 1


def test_at_12_to_14_the_child_consents_alone_only_once_assessed_mature():
    case = case_of()
    own = replace(TRACING, given_by=ConsentGiver.CHILD_CONSENT)
    with pytest.raises(InvalidCaseData, match="only with a recorded maturity assessment"):
        case.give_consent(own, uuid4(), NOW, TABLE)
    case.assess_maturity(MaturityAssessment(True, "cw-9", NOW.date(), "understands"), NOW)
    case.give_consent(own, uuid4(), NOW, TABLE)
    start_tracing(case, NOW)
    assert case.tracing is not None


def test_at_6_to_14_tracing_needs_the_childs_assent_beside_the_caregivers_consent():
    case = case_of()
    case.give_consent(TRACING, uuid4(), NOW, TABLE)
    with pytest.raises(ConsentMissing, match="who decides by age"):
        start_tracing(case, NOW)
    assent_id = uuid4()
    case.give_consent(replace(TRACING, given_by=ConsentGiver.CHILD_ASSENT), assent_id, NOW, TABLE)
    start_tracing(case, NOW)
    assert case.tracing is not None
    assert case.tracing.consent_id != assent_id  # the consent given for the child decides


def test_from_15_a_caregiver_can_no_longer_consent_for_the_child():
    case = case_of(date_of_birth=date(2010, 1, 1))
    with pytest.raises(InvalidCaseData, match="record the child's own consent"):
        case.give_consent(TRACING, uuid4(), NOW, TABLE)


def test_a_best_interests_decision_needs_its_grounds_and_written_reason():
    case = case_of()
    decision = replace(TRACING, given_by=ConsentGiver.BEST_INTERESTS_DECISION, approved_by="sup-1")
    with pytest.raises(InvalidCaseData, match="written reason"):
        case.give_consent(decision, uuid4(), NOW, TABLE)
    consent_id = uuid4()
    case.give_consent(replace(decision, best_interests=BEST_INTERESTS), consent_id, NOW, TABLE)
    events = case.collect_events()
    assert [type(e).__name__ for e in events] == ["BestInterestsDecided", "ConsentGiven"]
    decided = vars(events[0])
    assert decided["reason"] == BEST_INTERESTS.reason
    assert (decided["proposed_by"], decided["approved_by"]) == ("cw-9", "sup-1")
    assert case.consents[consent_id].best_interests == BEST_INTERESTS


def test_the_childs_refusal_blocks_tracing_whatever_consent_was_given():
    case = case_of(date_of_birth=date(2010, 1, 1))
    case.give_consent(replace(TRACING, given_by=ConsentGiver.CHILD_CONSENT), uuid4(), NOW, TABLE)
    case.refuse_disclosure(
        DisclosureRefusal(None, ("CD-ICRC",), (DataCategory.FAMILY,), "cw-9", NOW.date()),
        uuid4(),
        NOW,
    )
    with pytest.raises(ConsentMissing, match="the child's objection blocks the disclosure"):
        start_tracing(case, NOW)


def test_birthdays_at_15_and_18_ask_for_the_childs_own_consent():
    case = case_of()
    case.give_consent(replace(TRACING, given_by=ConsentGiver.CHILD_ASSENT), uuid4(), NOW, TABLE)
    caregivers = uuid4()
    case.give_consent(replace(TRACING, expires_on=date(2040, 1, 1)), caregivers, NOW, TABLE)
    start_tracing(case, NOW)
    assert case.consents_to_renew(at(2029, 6, 14), TABLE) == []
    fifteen = at(2029, 6, 15)
    assert case.consents_to_renew(fifteen, TABLE) == [caregivers]
    with pytest.raises(ConsentMissing, match="tracing pauses"):
        case.record_tracing_lead(
            *("community", "a neighbour", "cw-9", fifteen.date()),
            fifteen,
            TABLE,  # type: ignore[arg-type]
        )
    case.give_consent(
        replace(TRACING, given_by=ConsentGiver.CHILD_CONSENT, given_on=fifteen.date()),
        uuid4(),
        fifteen,
        TABLE,
    )
    assert case.consents_to_renew(fifteen, TABLE) == []
    assert case.consents_to_renew(at(2032, 6, 15), TABLE) == []  # the young person's own stands
