"""A form sent twice (pressed twice, or sent again by the offline script) records once.

Each form carries a key made when it was shown. The first copy to arrive holds the key's
lock while it calls the service; a copy arriving meanwhile waits, then gets the first one's
answer (where it led), and calls nothing. The record is in memory, per user, for an hour:
what guarantees one event beyond it is the service's own check, the ``Idempotency-Key`` of a
registration (the same key, so the same case) and the case ``version`` of a step (a second
copy based on the same version is refused with 409 and shown as "already changed: reload").
"""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

KEEP_SECONDS = 3600
MOST_KEPT = 10_000


@dataclass
class _Submission:
    lock: threading.Lock = field(default_factory=threading.Lock)
    led_to: str | None = None
    at: float = field(default_factory=time.monotonic)


class Submissions:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, str], _Submission] = {}

    def once(self, user: str, key: str, submit: Callable[[], str | None]) -> str | None:
        """Where the form's first recorded submission led (a page to go to). ``submit``
        answers ``None`` when nothing was recorded (a refusal): then the key may be used
        again, once the form is corrected."""
        with self._lock:
            now = time.monotonic()
            if len(self._seen) > MOST_KEPT:
                self._seen = {k: s for k, s in self._seen.items() if now - s.at < KEEP_SECONDS}
            submission = self._seen.setdefault((user, key), _Submission())
        with submission.lock:
            if submission.led_to is None:
                submission.led_to = submit()
            return submission.led_to
