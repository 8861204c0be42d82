"""Case numbers, unique within an agency and a year."""

from typing import ClassVar
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate


def case_number(agency: str, year: int, issued: int) -> str:
    """The ``issued``-th case number of an agency in a year, e.g. ``CD-KIN-2026-00042``."""
    return f"{agency}-{year}-{issued:05d}"


class AgencyCaseCounter(Aggregate):
    """Issued an agency's case numbers for one year until registrations outgrew it (each one
    saved the counter with the new case, so concurrent ones conflicted and retried): now
    ``services.intake.casenumbers`` issues them. Kept so that its recorded history still
    loads, and tells where that agency and year's numbers go on from."""

    class Event(Aggregate.Event):
        about_a_child: ClassVar = False  # counts cases; names none

    class Created(Aggregate.Created):
        agency: str
        year: int

        def apply(self, counter: "AgencyCaseCounter") -> None:
            counter.agency = self.agency
            counter.year = self.year

    class CaseNumberIssued(Aggregate.Event):
        def apply(self, counter: "AgencyCaseCounter") -> None:
            counter.issued += 1

    def __init__(self) -> None:
        # Given by ``Created.apply``; declared here for the type checker.
        self.agency: str
        self.year: int
        self.issued = 0

    @classmethod
    def start(cls, agency: str, year: int) -> "AgencyCaseCounter":
        return cls._create(cls.Created, agency=agency, year=year)

    @staticmethod
    def create_id(agency: str, year: int) -> UUID:
        return uuid5(NAMESPACE_URL, f"homeward:intake:case-numbers/{agency}/{year}")

    def next_case_number(self) -> str:
        self.trigger_event(self.CaseNumberIssued)
        return case_number(self.agency, self.year, self.issued)
