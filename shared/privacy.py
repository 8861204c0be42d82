"""Personal fields are sealed with their case's data key before they are stored or published.

An event class names its personal fields in ``personal_fields`` (names, dates of birth, family
members, exact places, phone numbers, free-text accounts); everything else stays readable, so
the platform can route and count without a key. The mapper seals on the way into the event
store and opens on the way out; once a case's key is destroyed, its personal fields read as
``[erased]`` everywhere, while its history of facts stays intact.
"""

from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Cipher, Compressor, Mapper, StoredEvent, Transcoder

from shared.crypto import ERASED, is_sealed
from shared.keyring import CaseKeys


def personal_fields(event_class: type) -> tuple[str, ...]:
    return tuple(getattr(event_class, "personal_fields", ()))


def case_id_of(event: Any) -> UUID:
    """The case an event belongs to: its ``case_id`` field, else its aggregate's id."""
    case_id = getattr(event, "case_id", None)
    return case_id if isinstance(case_id, UUID) else event.originator_id


class PersonalDataMapper(Mapper[UUID]):
    def __init__(
        self,
        transcoder: Transcoder,
        case_keys: CaseKeys,
        compressor: Compressor | None = None,
        cipher: Cipher | None = None,
    ) -> None:
        super().__init__(transcoder, compressor=compressor, cipher=cipher)
        self.case_keys = case_keys

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        fields = personal_fields(type(domain_event))
        if not fields:
            return super().to_stored_event(domain_event)
        key = self.case_keys.for_sealing(case_id_of(domain_event))
        state = dict(vars(domain_event))
        for field in fields:
            if state.get(field) is not None:
                state[field] = key.seal(field, state[field])
        sealed_event = object.__new__(type(domain_event))
        object.__setattr__(sealed_event, "__dict__", state)
        return super().to_stored_event(sealed_event)

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        domain_event = super().to_domain_event(stored_event)
        fields = personal_fields(type(domain_event))
        if fields:
            state = vars(domain_event)
            key = self.case_keys.for_opening(case_id_of(domain_event), "event store")
            for field in fields:
                if is_sealed(state.get(field)):
                    state[field] = ERASED if key is None else key.open(field, state[field])
        return domain_event
