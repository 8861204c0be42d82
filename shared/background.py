"""Work that runs in the background of a service and keeps going through outages."""

import logging
import threading
import time

log = logging.getLogger("homeward.background")

MAX_BACKOFF_SECONDS = 5.0


class BackgroundWorker:
    """Runs :meth:`step` in a loop on a daemon thread until stopped. A failed step is retried
    with a growing back-off (a broker or database outage only delays the work) after
    :meth:`recover` has dropped whatever connection may be broken."""

    def __init__(self, name: str, retry_seconds: float = 0.5) -> None:
        self.name = name
        self.retry_seconds = retry_seconds
        self._last_error: str | None = None
        self._failing_since: float | None = None
        self.failed_rounds = 0  # a counter for the metrics: rounds that raised and were retried
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def last_error(self) -> str | None:
        """The error of the last failed attempt, until an attempt succeeds."""
        return self._last_error

    @last_error.setter
    def last_error(self, error: str | None) -> None:
        if error is None:
            self._failing_since = None
        elif self._failing_since is None:
            self._failing_since = time.monotonic()
        self._last_error = error

    def failing_for(self) -> float:
        """Seconds since the worker's attempts began to fail (0 while they succeed): one failed
        round is an outage's first sign, one that lasts is a stuck worker."""
        return 0.0 if self._failing_since is None else time.monotonic() - self._failing_since

    def step(self) -> float:
        """Do one round of work; return how long to wait before the next one."""
        raise NotImplementedError

    def recover(self) -> None:
        """After a failed round: drop connections that may be broken."""

    def close(self) -> None:
        """When stopped: release what the worker holds."""

    def run(self) -> None:
        try:
            self._loop()
        finally:
            # Clients are closed by the thread that uses them (Kafka's are not thread-safe).
            self.close()

    def _loop(self) -> None:
        backoff = self.retry_seconds
        while not self._stop.is_set():
            try:
                pause = self.step()
            except Exception as error:  # keep trying: the next round may well succeed
                self.failed_rounds += 1
                self.last_error = f"{type(error).__name__}: {error}"
                log.warning("%s: %s; retrying in %.1f s", self.name, self.last_error, backoff)
                self.recover()
                self._stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                continue
            self.last_error = None
            backoff = self.retry_seconds
            if pause:
                self._stop.wait(pause)

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name=self.name, daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        self._stop.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the loop to end and wait a while; a loop stuck in a network call (a consumer
        group rebalancing after a crash, say) is left to end with the process."""
        self.request_stop()
        if self._thread is None:
            self.close()
            return
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("%s did not stop within %.0f s; leaving it", self.name, timeout)
        self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def died(self) -> bool:
        """Started, not asked to stop, and its loop has ended all the same."""
        return not self.running and self._thread is not None and not self._stop.is_set()
