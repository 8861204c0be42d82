"""Erasure, in order: the fact first, then the key, driven by the recorded fact.

``CaseErased`` is recorded with the case's other events (all its fields in clear). This worker
follows the notification log for recorded erasures, destroys each case's data key in the
keyring, and only then moves its tracking position past that erasure. A crash between the
two steps leaves the erasure recorded and the destruction pending, and the next run (after a
restart too) does it: "key gone, no fact" cannot happen, and "fact recorded, key alive" lasts
only until the worker runs again.
"""

import logging
import threading
from collections.abc import Sequence
from uuid import UUID

from eventsourcing.persistence import Notification, Tracking
from eventsourcing.utils import get_topic

from shared.application import ServiceApplication
from shared.background import BackgroundWorker

log = logging.getLogger("homeward.erasure")
PENDING_COUNTED_UP_TO = 10_000


class KeyShredder(BackgroundWorker):
    """Destroys the data key of every case whose erasure the application recorded."""

    def __init__(
        self,
        application: ServiceApplication,
        erasure_event: type,
        *,
        batch_size: int = 100,
        poll_seconds: float = 0.5,
    ) -> None:
        super().__init__(f"{application.name}-key-shredder", retry_seconds=poll_seconds)
        self.application = application
        self._topic = get_topic(erasure_event)
        self._tracking = application.factory.tracking_recorder()
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._lock = threading.Lock()

    @property
    def position(self) -> int:
        return self._tracking.max_tracking_id(self.name) or 0

    def _recorded_erasures(self, limit: int | None = None) -> Sequence[Notification]:
        return self.application.recorder.select_notifications(
            start=self.position,
            limit=limit or self._batch_size,
            topics=[self._topic],
            inclusive_of_start=False,
        )

    def pending(self) -> list[UUID]:
        """The cases whose erasure is recorded and whose key may still exist."""
        return [UUID(str(n.originator_id)) for n in self._recorded_erasures()]

    def pending_count(self) -> int:
        """How many recorded erasures wait for their key's destruction (counted up to
        ``PENDING_COUNTED_UP_TO``, far more than ever wait while the worker runs)."""
        return len(self._recorded_erasures(PENDING_COUNTED_UP_TO))

    def shred_pending(self) -> int:
        """Destroy the keys of the erasures recorded since the last run; return how many."""
        with self._lock:  # the worker and an erasure request may both call it
            notifications = self._recorded_erasures()
            for notification in notifications:
                case_id = UUID(str(notification.originator_id))
                self.application.case_keys.keyring.destroy(case_id)
                self.application.case_keys.forget(case_id)
                self._tracking.insert_tracking(Tracking(self.name, notification.id))
                log.info("case %s: data key destroyed", case_id)
        return len(notifications)

    def step(self) -> float:
        return 0.0 if self.shred_pending() >= self._batch_size else self._poll_seconds
