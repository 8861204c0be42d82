"""What the follow-up service publishes on ``homeward.followup.events`` (its Kafka wiring).

Each message is about its plan (``subject``, the plan's own id, derived from the case's) and
keyed by the case it follows (``caseid``), so one child's history keeps its order; every field
that :mod:`shared.allowlist` does not name travels sealed with the case's key. An
``AlertRaised`` is what intake listens for, to raise the case's risk level.
"""

from services.followup.domain import FollowUpPlan
from shared.publishing import EventCatalogue, published

CATALOGUE = EventCatalogue(
    "followup",
    *(
        published(event_class)
        for event_class in (
            FollowUpPlan.PlanCreated,
            FollowUpPlan.VisitScheduled,
            FollowUpPlan.VisitCompleted,
            FollowUpPlan.VisitMissed,
            FollowUpPlan.RiskReassessed,
            FollowUpPlan.AlertRaised,
            FollowUpPlan.ReintegrationReviewed,
            FollowUpPlan.ClosureRecommended,
            FollowUpPlan.PlanReassigned,
            FollowUpPlan.ReturnBrokeDown,
            FollowUpPlan.PlanRebased,
            FollowUpPlan.PlanCancelled,
        )
    ),
)
