"""Why the case refuses a command."""


class InvalidCaseData(ValueError):
    """A fact that cannot be true (a date in the future, a handover before the release)."""


class CaseRuleViolation(Exception):
    """A command that makes no sense in the case's current state."""


class ConsentMissing(CaseRuleViolation):
    """A share (tracing) that no valid, unwithdrawn consent allows."""
