"""The intake application: the use cases a caseworker performs on a child's case."""

from uuid import UUID

from eventsourcing.persistence import IntegrityError

from services.intake.domain import AgencyCaseCounter, ChildCase, Registration
from shared.persistence import ServiceApplication

NUMBERING_ATTEMPTS = 5


class IntakeApplication(ServiceApplication):
    name = "intake"

    def register_child(self, registration: Registration) -> ChildCase:
        """Open a case; its number is unique within the registering agency and year."""
        now = self.clock()
        for attempt in range(1, NUMBERING_ATTEMPTS + 1):
            counter = self._case_counter(registration.registering_agency, now.year)
            case = ChildCase.register(registration, counter.next_case_number(), now)
            try:
                self.save(counter, case)
            except IntegrityError:
                # Another registration at the same agency took this number first.
                if attempt == NUMBERING_ATTEMPTS:
                    raise
                continue
            return case
        raise AssertionError("unreachable")

    def get_case(self, case_id: UUID) -> ChildCase:
        case = self.repository.get(case_id)
        if not isinstance(case, ChildCase):
            raise KeyError(case_id)
        return case

    def _case_counter(self, agency: str, year: int) -> AgencyCaseCounter:
        counter_id = AgencyCaseCounter.create_id(agency, year)
        if counter_id in self.repository:
            counter = self.repository.get(counter_id)
            assert isinstance(counter, AgencyCaseCounter)
            return counter
        return AgencyCaseCounter(agency, year)
