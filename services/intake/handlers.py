"""How the intake service reacts to other services' messages."""

import logging

from services.intake.app import IntakeApplication, StaleVersion
from services.intake.domain import CaseRuleViolation
from shared.consumer import CommandHandler
from shared.envelope import CloudEvent, event_type

log = logging.getLogger("homeward.intake")

FOLLOWUP_ALERT = event_type("followup", "AlertRaised", 1)
FOLLOWUP_CLOSURE = event_type("followup", "ClosureRecommended", 1)


def on_followup_event(application: IntakeApplication) -> CommandHandler:
    """A follow-up alert raises the case's risk level, so it shows in the overdue list; a
    closure recommendation shows on the case."""

    def handle(message: CloudEvent, _topic: str) -> None:
        case_id = message.case_id  # the subject is the follow-up plan
        if case_id is None:
            return
        if message.type == FOLLOWUP_CLOSURE:
            application.note_closure_recommendation(case_id, message.id, message.data["because"])
            return
        if message.type != FOLLOWUP_ALERT:
            return
        try:
            application.raise_risk_on_alert(case_id, message.id, message.data["kind"])
        except StaleVersion:
            raise  # a concurrent edit, not a refusal: the consumer retries the alert
        except CaseRuleViolation as error:  # closed or erased: nothing left to raise
            log.info("case %s: follow-up alert %s not applied: %s", case_id, message.id, error)

    return handle
