"""Why the case refuses a command."""

from uuid import UUID

from shared.refusals import InvalidData, NotFound, RuleViolation


class InvalidCaseData(InvalidData):
    """A fact that cannot be true (a date in the future, a handover before the release)."""


class CaseRuleViolation(RuleViolation):
    """A command that makes no sense in the case's current state."""


class ConsentMissing(CaseRuleViolation):
    """A share (tracing) that no valid, unwithdrawn consent allows."""


class CaseNotFound(NotFound):
    def __init__(self, case_id: UUID) -> None:
        super().__init__(f"No case {case_id}.")
