"""The base of every service's eventsourcing application."""

from collections.abc import Iterable
from datetime import date
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import ApplicationRecorder, JSONTranscoder, Mapper, Transcoding

from shared.chain import chained_recorder
from shared.keyring import CaseKeys
from shared.persistence import Clock
from shared.privacy import CaseResolver, PersonalDataMapper


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


def project_events(aggregate: Any, events: Iterable[DomainEventProtocol[UUID]]) -> Any:
    """The library's projector without its check of each event against a runtime protocol,
    which took half of rebuilding a case of 500 events (the events come from our own
    mapper, as the classes they were stored as)."""
    for event in events:
        aggregate = event.mutate(aggregate)  # type: ignore[attr-defined]
    return aggregate


class ServiceApplication(Application[UUID]):
    """The base of every service's application: its name prefixes its settings and relay."""

    env: ClassVar[dict[str, str]] = {"SQLITE_LOCK_TIMEOUT": "10"}

    def __init__(self, env: dict[str, str] | None, clock: Clock, case_keys: CaseKeys) -> None:
        self.case_keys = case_keys  # the mapper, made by the base class, needs it
        self.cases = CaseResolver()
        self.clock = clock
        super().__init__(env)
        self.cases.creation_event = self._creation_event

    def construct_mapper(self) -> Mapper[UUID]:
        return PersonalDataMapper(
            self.construct_transcoder(),
            self.case_keys,
            self.cases,
            compressor=self.factory.compressor(),
            cipher=self.factory.cipher(),
        )

    def construct_recorder(self) -> ApplicationRecorder:
        """Every stored event is chained to the one before it (:mod:`shared.chain`)."""
        return chained_recorder(self.factory)

    def _creation_event(self, aggregate_id: UUID) -> DomainEventProtocol[UUID] | None:
        """An aggregate's first event as stored: the case it names is in clear."""
        stored = self.recorder.select_events(aggregate_id, lte=1)
        if not stored:
            return None
        mapper = self.mapper
        assert isinstance(mapper, PersonalDataMapper)
        return mapper.to_sealed_domain_event(stored[0])

    def recorded_version(self, aggregate_id: UUID) -> int | None:
        """The version of an aggregate as last recorded (None if nothing is): what a command
        refused for a change saved meanwhile tells the caller to start again from."""
        latest = self.recorder.select_events(aggregate_id, desc=True, limit=1)
        return latest[0].originator_version if latest else None

    def case_of(self, event: DomainEventProtocol[UUID]) -> UUID:
        """The case an event belongs to: the Kafka key and ``caseid`` of its message, so
        that one child's history keeps its order."""
        return self.cases.case_of(event)

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())
