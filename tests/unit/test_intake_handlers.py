"""A follow-up alert that meets a concurrent edit of the case is retried, not swallowed."""

import uuid

import pytest

from services.intake.app import StaleVersion
from services.intake.domain import CaseRuleViolation
from services.intake.handlers import FOLLOWUP_ALERT, on_followup_event
from shared.envelope import CloudEvent


class Intake:
    def __init__(self, refusal: Exception) -> None:
        self.refusal = refusal

    def raise_risk_on_alert(self, _case_id, _alert_id, _kind) -> bool:
        raise self.refusal


def alert() -> CloudEvent:
    case_id = str(uuid.uuid4())
    return CloudEvent(
        specversion="1.0",
        id=str(uuid.uuid4()),
        source="/homeward/followup",
        type=FOLLOWUP_ALERT,
        subject=str(uuid.uuid4()),  # the follow-up plan
        caseid=case_id,
        partitionkey=case_id,
        data={"kind": "re_recruitment_threat"},
    )


def test_a_concurrent_edit_reaches_the_consumer_which_retries_it():
    handle = on_followup_event(Intake(StaleVersion("changed meanwhile", current_version=3)))  # type: ignore[arg-type]
    with pytest.raises(StaleVersion):
        handle(alert(), "homeward.followup.events")


def test_a_closed_or_erased_case_ends_the_alert_quietly():
    handle = on_followup_event(Intake(CaseRuleViolation("case is closed")))  # type: ignore[arg-type]
    handle(alert(), "homeward.followup.events")
