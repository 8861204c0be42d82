"""The steps a case's state allows now (the case view's ``next_steps``): each step's own
command refuses exactly the steps left out."""

from datetime import date
from uuid import uuid4

import pytest

from services.intake.domain import CareExit, CaseRuleViolation, ClosureReason, ErasureReason
from tests.unit.test_intake_journey_domain import (
    FAMILY,
    NOW,
    PLACEMENT,
    SUITABLE,
    TABLE,
    TRACING_CONSENT,
    registered,
    safeguard,
    tracing_case,
)

ALWAYS_WHILE_OPEN = {"age-assessment", "needs-assessment", "risk-level", "consents", "case-plan"}


def test_a_new_case_offers_interim_care_and_tracing_but_nothing_that_needs_them_first():
    case = registered()
    steps = set(case.next_steps(NOW, TABLE))
    assert ALWAYS_WHILE_OPEN | {"interim-care", "tracing", "alternative-care", "closure"} <= steps
    # Registered with its handover; nothing placed, traced, reunified, detained or planned.
    assert not steps & {
        "handover",
        "interim-care/end",
        "interim-care/extension",
        "tracing/leads",
        "tracing/family-located",
        "reunification",
        "reunification/breakdown",
        "detention/end",
        "case-plan/review",
        "closure/approval",
        "reopening",
        "risk-response",
    }
    # What is left out is what its command refuses.
    with pytest.raises(CaseRuleViolation, match="not in interim care"):
        case.end_interim_care(date(2026, 11, 22), CareExit.FAMILY_REUNIFICATION, "cw-9", NOW)


def test_a_placement_offers_its_end_and_takes_away_a_second_placement():
    case = registered()
    case.place_in_interim_care(PLACEMENT, NOW)
    steps = case.next_steps(NOW, TABLE)
    assert {"interim-care/end", "interim-care/extension"} <= set(steps)
    assert "interim-care" not in steps
    assert "alternative-care" not in steps  # the placement ends first


def test_tracing_opens_its_steps_one_fact_after_the_other_up_to_the_reunification():
    case = tracing_case()
    steps = set(case.next_steps(NOW, TABLE))
    assert {"tracing/leads", "tracing/family-located", "tracing/closure"} <= steps
    assert not steps & {"tracing", "tracing/family-assessment", "reunification"}
    case.locate_family(FAMILY, NOW, TABLE)
    assert "tracing/family-assessment" in case.next_steps(NOW, TABLE)
    assert "reunification" not in case.next_steps(NOW, TABLE)
    case.assess_family(SUITABLE, NOW, TABLE)
    assert "reunification" not in case.next_steps(NOW, TABLE)  # safeguards before return
    safeguard(case)
    assert "reunification" in case.next_steps(NOW, TABLE)
    case.reunify(date(2026, 11, 23), "cw-9", None, NOW, TABLE)
    steps = set(case.next_steps(NOW, TABLE))
    assert "reunification/breakdown" in steps
    assert not steps & {"tracing", "interim-care", "reunification", "tracing/leads"}


def test_tracing_paused_by_a_withdrawn_consent_offers_only_its_closure():
    case = tracing_case()
    (consent_id,) = case.consents
    case.withdraw_consent(consent_id, "cw-9")
    steps = set(case.next_steps(NOW, TABLE))
    assert "tracing/closure" in steps
    assert "tracing/leads" not in steps
    case.give_consent(TRACING_CONSENT, uuid4(), NOW, TABLE)
    assert "tracing/leads" in case.next_steps(NOW, TABLE)


def test_a_closed_case_offers_its_reopening_and_no_journey_step_and_an_erased_one_nothing():
    case = registered()
    case.request_closure(ClosureReason.TRANSFERRED, "cw-9", NOW.date(), None, NOW, TABLE)
    assert "closure/approval" in case.next_steps(NOW, TABLE)
    case.approve_closure("sup-1", NOW.date(), NOW)
    # A closed case's records may still be corrected, and consents recorded or withdrawn.
    assert case.next_steps(NOW, TABLE) == [
        "consents",
        "maturity-assessment",
        "disclosure-refusals",
        "corrections",
        "reopening",
    ]
    case.erase(ErasureReason.CHILD_REQUEST, "sup-1")
    assert case.next_steps(NOW, TABLE) == []
