"""Sealed by default: every field of an event about a child is sealed with its case's key.

Only the fields of :mod:`shared.allowlist` stay readable. The mapper seals on the way into the
event store and opens on the way out; the relay seals again on the way to Kafka; consumers
open what they read. Once a case's key is destroyed, its sealed fields read ``[erased]``
everywhere, while its history of facts stays intact.

Which case an event belongs to has one answer, :class:`CaseResolver`: the case aggregate's own
events belong to it; every other aggregate about a child names its case (``case_id``) in its
creation event, and its later events inherit it. An event with sealed fields whose case cannot
be resolved is refused: sealed under a key of its own, erasure would miss it.
"""

from collections import OrderedDict
from collections.abc import Callable, Hashable
from threading import Lock
from typing import Any, cast
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import (
    Cipher,
    Compressor,
    Mapper,
    MapperDeserialisationError,
    StoredEvent,
    Transcoder,
    find_id_convertor,
)
from eventsourcing.utils import resolve_topic

from shared.allowlist import is_clear, sealed_names
from shared.crypto import ERASED, DataKey, is_sealed
from shared.keyring import CaseKeys

RESOLVED_CASES_KEPT = 100_000  # aggregate → case pairs remembered; the rest are looked up


class UnresolvableCase(LookupError):
    """An event about a child whose case no rule names: it is refused, never sealed alone."""


def about_a_child(event: Any) -> bool:
    """Events are about a child unless their aggregate says otherwise (``about_a_child =
    False`` on its ``Event`` base: partners, case-number counters)."""
    return bool(getattr(event, "about_a_child", True))


def is_case_event(event: Any) -> bool:
    """An event of the case aggregate itself (``is_the_case = True`` on its ``Event`` base)."""
    return bool(getattr(event, "is_the_case", False))


def seal_fields(
    state: dict[str, Any], key: DataKey, transcoder: Transcoder | None = None
) -> dict[str, Any]:
    """A copy of ``state`` with every field that is not allow-listed sealed (None too, so that
    even the absence of a value says nothing). Plaintext is JSON, or with a ``transcoder`` the
    event store's encoding, which keeps dates and ids as they were."""

    def seal(name: str, value: Any) -> dict[str, str]:
        if transcoder is None:
            return key.seal(name, value)
        return key.seal_bytes(name, transcoder.encode(value))

    return {
        name: value if is_clear(name) or is_sealed(value) else seal(name, value)
        for name, value in state.items()
    }


def open_fields(
    state: dict[str, Any], key: DataKey | None, transcoder: Transcoder | None = None
) -> dict[str, Any]:
    """A copy of ``state`` with each sealed field opened, or ``[erased]`` without a key."""
    return {
        name: open_field(name, value, key, transcoder) if is_sealed(value) else value
        for name, value in state.items()
    }


def open_field(
    name: str, sealed: dict[str, str], key: DataKey | None, transcoder: Transcoder | None
) -> Any:
    """One sealed field opened (see :func:`open_fields`)."""
    if key is None:
        return ERASED
    if transcoder is None:
        return key.open(name, sealed)
    return transcoder.decode(key.open_bytes(name, sealed))


def has_sealed(data: dict[str, Any]) -> bool:
    return any(is_sealed(value) for value in data.values())


def open_personal_fields(
    data: dict[str, Any], case_id: UUID, case_keys: CaseKeys, purpose: str
) -> dict[str, Any]:
    """A copy of a message's data with each sealed field opened, or ``[erased]``."""
    if not has_sealed(data):
        return dict(data)
    return open_fields(data, case_keys.for_opening(case_id, purpose))


class ErasableEvent:
    """Mixed into an aggregate's ``Event`` base: once its case's key is destroyed, a fact whose
    fields read ``[erased]`` still counts (the version moves on) but changes no state, since
    its values are gone."""

    def mutate(self, aggregate: Any) -> Any:
        if aggregate is not None and ERASED in vars(self).values():
            aggregate.version = vars(self)["originator_version"]
            aggregate.modified_on = vars(self)["timestamp"]
            self.note_erased_fact(aggregate)
            return aggregate
        return super().mutate(aggregate)  # type: ignore[misc]

    def note_erased_fact(self, aggregate: Any) -> None:
        """What an erased fact still tells its aggregate (fields in clear only)."""


class CaseResolver:
    """Answers "which case is this event about?" for the mapper, the relay and, through the
    ``caseid`` of every published message, every consumer."""

    def __init__(self) -> None:
        self._cases: OrderedDict[UUID, UUID] = OrderedDict()
        self._lock = Lock()
        self.creation_event: Callable[[UUID], Any] = lambda _aggregate_id: None

    def case_of(self, event: Any) -> UUID:
        if is_case_event(event):
            originator_id = event.originator_id
            return originator_id if type(originator_id) is UUID else UUID(str(originator_id))
        aggregate_id = event.originator_id
        case_id = getattr(event, "case_id", None)
        if isinstance(case_id, UUID):
            self._remember(aggregate_id, case_id)
            return case_id
        with self._lock:
            known = self._cases.get(aggregate_id)
        if known is not None:
            return known
        created = self.creation_event(aggregate_id)
        case_id = getattr(created, "case_id", None)
        if not isinstance(case_id, UUID):
            raise UnresolvableCase(
                f"{type(event).__qualname__} of aggregate {aggregate_id} names no case: its "
                "creation event must carry case_id"
            )
        self._remember(aggregate_id, case_id)
        return case_id

    def _remember(self, aggregate_id: UUID, case_id: UUID) -> None:
        with self._lock:
            self._cases[aggregate_id] = case_id
            self._cases.move_to_end(aggregate_id)
            while len(self._cases) > RESOLVED_CASES_KEPT:
                self._cases.popitem(last=False)


class PersonalDataMapper(Mapper[UUID]):
    def __init__(
        self,
        transcoder: Transcoder,
        case_keys: CaseKeys,
        resolver: CaseResolver,
        compressor: Compressor | None = None,
        cipher: Cipher | None = None,
    ) -> None:
        super().__init__(transcoder, compressor=compressor, cipher=cipher)
        self.case_keys = case_keys
        self.resolver = resolver

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        if not about_a_child(domain_event) or not sealed_names(vars(domain_event)):
            return super().to_stored_event(domain_event)  # nothing to seal: no key needed
        key = self.case_keys.for_sealing(self.resolver.case_of(domain_event))
        sealed_event = object.__new__(type(domain_event))
        sealed_state = seal_fields(vars(domain_event), key, self.transcoder)
        object.__setattr__(sealed_event, "__dict__", sealed_state)
        return super().to_stored_event(sealed_event)

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        """The stored event opened, then upcast to its class's version: an upcast reads and
        writes the values themselves, which a sealed field hides (and binds to its name)."""
        domain_event, stored_version = self._as_stored(stored_event)
        state = vars(domain_event)
        # Opened in place, in one pass over the fields: a case of 500 events has some 1,500.
        sealed = [name for name, value in state.items() if is_sealed(value)]
        if sealed:
            key = self.case_keys.for_opening(self.resolver.case_of(domain_event), "event store")
            for name in sealed:
                state[name] = open_field(name, state[name], key, self.transcoder)
        upcast(type(domain_event), state, stored_version)
        return domain_event

    def to_sealed_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        """The stored event as it rests: its sealed fields still sealed, in the version of its
        class it was stored in."""
        return self._as_stored(stored_event)[0]

    def _as_stored(self, stored_event: StoredEvent) -> tuple[DomainEventProtocol[UUID], int]:
        """The library's reading of a stored event, without its upcasting (done once the
        fields are open), and the class version the event was stored in."""
        event_class = resolve_topic(stored_event.topic)
        state_bytes = stored_event.state
        try:
            if self.cipher:
                state_bytes = self.cipher.decrypt(state_bytes)
            if self.compressor:
                state_bytes = self.compressor.decompress(state_bytes)
            state: dict[str, Any] = self.transcoder.decode(state_bytes)
        except Exception as error:
            raise MapperDeserialisationError(
                f"Failed to deserialise state of stored event with topic "
                f"'{stored_event.topic}', originator_id '{stored_event.originator_id}' and "
                f"originator_version {stored_event.originator_version}: {error}"
            ) from error
        as_id = find_id_convertor(event_class, cast(Hashable, type(stored_event.originator_id)))
        state["originator_id"] = as_id(stored_event.originator_id)
        state["originator_version"] = stored_event.originator_version
        stored_version = int(state.pop("class_version", 1))
        domain_event = object.__new__(event_class)
        object.__setattr__(domain_event, "__dict__", state)
        return domain_event, stored_version


def upcast(event_class: type, state: dict[str, Any], stored_version: int) -> None:
    """Bring an event's state from the class version it was stored in to its class's own, as
    the eventsourcing library does: ``class_version`` on the class (1 when absent), and a
    static ``upcast_v<N>_v<N+1>(state)`` for each step, which edits the state in place."""
    version = stored_version
    while version < getattr(event_class, "class_version", 1):
        getattr(event_class, f"upcast_v{version}_v{version + 1}")(state)
        version += 1
