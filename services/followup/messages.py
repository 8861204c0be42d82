"""What the follow-up service publishes on ``homeward.followup.events`` (its Kafka wiring).

Plans are keyed by the case they follow, so one child's history keeps its order. An
``AlertRaised`` is what intake listens for, to raise the case's risk level.
"""

from typing import Any

from services.followup.domain import FollowUpPlan
from shared.publishing import EventCatalogue, PublishedEvent


def as_data(event: Any) -> dict[str, Any]:
    """An event's own fields, dates as ISO text, with the plan's case id."""
    return {
        name: value.isoformat() if hasattr(value, "isoformat") else value
        for name, value in vars(event).items()
        if name
        not in {"originator_id", "originator_version", "originator_topic", "timestamp", "case_id"}
    }


def with_case(event: FollowUpPlan.PlanCreated) -> dict[str, Any]:
    return {"case_id": str(event.case_id), **as_data(event)}


def plan_event(name: str, event_class: type, **options: Any) -> PublishedEvent:
    return PublishedEvent(event_class, name, 1, as_data, **options)


CATALOGUE = EventCatalogue(
    "followup",
    PublishedEvent(FollowUpPlan.PlanCreated, "PlanCreated", 1, with_case),
    plan_event("VisitScheduled", FollowUpPlan.VisitScheduled),
    plan_event("VisitCompleted", FollowUpPlan.VisitCompleted, personal=("child_view",)),
    plan_event("VisitMissed", FollowUpPlan.VisitMissed),
    plan_event("RiskReassessed", FollowUpPlan.RiskReassessed),
    plan_event("AlertRaised", FollowUpPlan.AlertRaised),
    plan_event("ReintegrationReviewed", FollowUpPlan.ReintegrationReviewed),
    plan_event("ClosureRecommended", FollowUpPlan.ClosureRecommended),
)
