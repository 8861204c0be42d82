"""How the follow-up service reacts to what it reads on Kafka."""

from datetime import date

from services.followup.app import FollowUpApplication
from services.followup.domain import ReturnKind, RiskLevel
from services.followup.projections import FollowUpViews, intake_type
from shared.consumer import CommandHandler
from shared.envelope import CloudEvent

# The intake facts that end with the child back in a family: the date field of each.
RETURNS = {
    intake_type("Reunified"): (ReturnKind.REUNIFIED, "reunified_on"),
    intake_type("AlternativeCareArranged"): (ReturnKind.ALTERNATIVE_CARE, "arranged_on"),
}


class CaseNotKnownYet(LookupError):
    """A return of a case whose registration this service has not seen: not now, later."""


def on_intake_event(application: FollowUpApplication, views: FollowUpViews) -> CommandHandler:
    """On a return, make the follow-up plan for the caseworker ``views`` know (or, after a
    breakdown, re-base it); on a breakdown, call off the visits still due; on an erasure,
    cancel the plan; follow reassignments and risk. The consumer runs it after the views'
    own handler (``FollowUpViews.apply_intake_event``) has applied the message."""

    def handle(message: CloudEvent, _topic: str) -> None:
        case_id, data = message.case_id, message.data
        if case_id is None:
            return
        if message.type == intake_type("CaseErased"):
            application.cancel_plan(case_id)
        elif message.type == intake_type("CaseAssigned"):
            application.reassign(case_id, data["caseworker"])
        elif message.type == intake_type("RiskLevelSet"):
            application.note_case_risk(case_id, RiskLevel(data["level"]))
        elif message.type == intake_type("ReunificationBrokeDown"):
            application.note_breakdown(
                case_id, date.fromisoformat(data["broke_down_on"]), data["reason"]
            )
        elif message.type in RETURNS:
            kind, date_field = RETURNS[message.type]
            known = views.case(case_id)
            if known is None or not known[0]:
                # Its registration comes first on the same partition: not yet seen here, it
                # will be (the consumer retries); a plan never goes to no one.
                raise CaseNotKnownYet(f"case {case_id} returned before this service knew it")
            caseworker, risk = known
            application.start_plan(
                case_id,
                date.fromisoformat(data[date_field]),
                kind,
                caseworker,
                RiskLevel(risk) if risk else None,
            )

    return handle
