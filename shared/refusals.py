"""Why a service refuses a command: the kinds of refusal every service shares.

Each service's own refusals subclass these, and ``shared.api`` answers each kind with one
HTTP status for every service: a rule the state forbids or a change made meanwhile is a 409,
a fact that cannot be true a 422, something missing a 404. Anything else that escapes a
route is a bug and answers 500 (a bare ``KeyError`` included: it says nothing of what is
missing, so it is never taken for a 404). Messages name ids, never personal data.
"""


class RuleViolation(Exception):
    """A command that the current state of what it changes forbids."""


class VersionConflict(RuleViolation):
    """A command based on a version older than the one recorded, or a change saved meanwhile:
    the caller reloads and tries again from ``current_version`` (None when it is unknown)."""

    def __init__(self, message: str, *, current_version: int | None) -> None:
        super().__init__(message)
        self.current_version = current_version


class InvalidData(ValueError):
    """A fact that cannot be true (a date in the future, a visit before the return)."""


class NotFound(LookupError):
    """Something a command names does not exist; its message is the answer's text."""
