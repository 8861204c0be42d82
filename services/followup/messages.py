"""What the follow-up service publishes on ``homeward.followup.events`` (its Kafka wiring).

Plans are keyed by the case they follow, so one child's history keeps its order. An
``AlertRaised`` is what intake listens for, to raise the case's risk level.
"""

from typing import Any

from services.followup.domain import FollowUpPlan
from shared.publishing import EventCatalogue, PublishedEvent, event_fields


def plan_event(name: str, event_class: type, **options: Any) -> PublishedEvent:
    return PublishedEvent(event_class, name, 1, event_fields, **options)


CATALOGUE = EventCatalogue(
    "followup",
    plan_event("PlanCreated", FollowUpPlan.PlanCreated),
    plan_event("VisitScheduled", FollowUpPlan.VisitScheduled),
    plan_event("VisitCompleted", FollowUpPlan.VisitCompleted, personal=("child_view",)),
    plan_event("VisitMissed", FollowUpPlan.VisitMissed),
    plan_event("RiskReassessed", FollowUpPlan.RiskReassessed),
    plan_event("AlertRaised", FollowUpPlan.AlertRaised),
    plan_event("ReintegrationReviewed", FollowUpPlan.ReintegrationReviewed),
    plan_event("ClosureRecommended", FollowUpPlan.ClosureRecommended),
)
