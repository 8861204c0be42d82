"""What the intake service publishes on ``homeward.intake.events`` (its Kafka wiring).

Each message is the event's own fields beside the case id; every field that
:mod:`shared.allowlist` does not name travels sealed with the case's data key.
"""

from services.intake.domain import ChildCase
from shared.publishing import EventCatalogue, published

# Shown to no one through the general API: the extra-restricted category (its reading needs
# the authorisation work that comes later); it travels and is stored sealed like every field.
RESTRICTED_FIELDS = ("sexual_violence",)

CATALOGUE = EventCatalogue(
    "intake",
    *(
        published(event_class, about="case_id")
        for event_class in (
            ChildCase.ChildRegistered,
            ChildCase.HandedOver,
            ChildCase.FieldCorrected,
            ChildCase.ConsentGiven,
            ChildCase.BestInterestsDecided,
            ChildCase.MaturityAssessed,
            ChildCase.DisclosureRefused,
            ChildCase.ConsentWithdrawn,
            ChildCase.CaseErased,
            ChildCase.AgeAssessed,
            ChildCase.InterimCarePlaced,
            ChildCase.InterimCareExtended,
            ChildCase.InterimCareEnded,
            ChildCase.NeedsAssessed,
            ChildCase.RiskLevelSet,
            ChildCase.RiskResponded,
            ChildCase.TracingStarted,
            ChildCase.TracingLeadRecorded,
            ChildCase.FamilyLocated,
            ChildCase.FamilyAssessed,
            ChildCase.RelationshipVerified,
            ChildCase.ReturnChecked,
            ChildCase.ReturnApproved,
            ChildCase.Reunified,
            ChildCase.ReunificationBrokeDown,
            ChildCase.CaseLinked,
            ChildCase.CaseUnlinked,
            ChildCase.DetentionStarted,
            ChildCase.DetentionEnded,
            ChildCase.AlternativeCareArranged,
            ChildCase.TracingClosedUnsuccessful,
            ChildCase.CaseAssigned,
            ChildCase.CasePlanAgreed,
            ChildCase.CasePlanReviewed,
            ChildCase.FollowUpRecommendedClosure,
            ChildCase.ClosureRequested,
            ChildCase.CaseClosed,
            ChildCase.CaseReopened,
        )
    ),
)
