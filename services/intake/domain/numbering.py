"""Case numbers, unique within an agency and a year."""

from typing import ClassVar
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event


class AgencyCaseCounter(Aggregate):
    """Issues an agency's case numbers for one year, so that no two cases share one: the
    counter is saved with the new case, and a concurrent registration conflicts and retries."""

    class Event(Aggregate.Event):
        about_a_child: ClassVar = False  # counts cases; names none

    class CaseNumberIssued(Aggregate.Event):
        pass

    def __init__(self, agency: str, year: int) -> None:
        self.agency = agency
        self.year = year
        self.issued = 0

    @staticmethod
    def create_id(agency: str, year: int) -> UUID:
        return uuid5(NAMESPACE_URL, f"homeward:intake:case-numbers/{agency}/{year}")

    def next_case_number(self) -> str:
        self._issue()
        return f"{self.agency}-{self.year}-{self.issued:05d}"

    @event(CaseNumberIssued)
    def _issue(self) -> None:
        self.issued += 1
