"""The base of every service's eventsourcing application."""

from datetime import date
from typing import ClassVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import JSONTranscoder, Mapper, Transcoding

from shared.keyring import CaseKeys
from shared.persistence import Clock
from shared.privacy import PersonalDataMapper, case_id_of


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class ServiceApplication(Application[UUID]):
    """The base of every service's application: its name prefixes its settings and relay."""

    env: ClassVar[dict[str, str]] = {"SQLITE_LOCK_TIMEOUT": "10"}

    def __init__(self, env: dict[str, str] | None, clock: Clock, case_keys: CaseKeys) -> None:
        self.case_keys = case_keys  # the mapper, made by the base class, needs it
        self.clock = clock
        self._case_of_aggregate: dict[UUID, UUID] = {}
        super().__init__(env)

    def construct_mapper(self) -> Mapper[UUID]:
        return PersonalDataMapper(
            self.construct_transcoder(),
            self.case_keys,
            compressor=self.factory.compressor(),
            cipher=self.factory.cipher(),
        )

    def case_of(self, event: DomainEventProtocol[UUID]) -> UUID:
        """The case an event belongs to: the Kafka key and CloudEvent subject of its message,
        so that one child's history keeps its order. An aggregate that is not the case itself
        (a referral, a follow-up plan) names its case in its creation event and keeps it as
        ``case_id``; later events are looked up through it."""
        aggregate_id = event.originator_id
        if aggregate_id not in self._case_of_aggregate:
            if isinstance(getattr(event, "case_id", None), UUID) or event.originator_version == 1:
                self._case_of_aggregate[aggregate_id] = case_id_of(event)
            else:
                try:
                    case_id = getattr(self.repository.get(aggregate_id), "case_id", None)
                except AggregateNotFoundError:  # not saved (yet): it stands for itself
                    case_id = None
                self._case_of_aggregate[aggregate_id] = (
                    case_id if isinstance(case_id, UUID) else aggregate_id
                )
        return self._case_of_aggregate[aggregate_id]

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())
