"""Rebuilding a service's read models from nothing, into a database of their own.

Each read model is made again by the very handler its live consumer runs, over its topics
from the first offset to the end they have when the rebuild starts, in a fresh runtime of
the service (its own empty database, the platform's keyring): the live database, its
consumer groups and the dead-letter topics are not touched. A message the live consumer
parked is not applied here either (it is counted as refused). The referral index, kept from
the service's own notification log, is made again from that log.
"""

import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from shared.consumer import EventConsumer, UnacceptableMessage
from shared.database import Database
from shared.envelope import CloudEvent, MalformedMessage
from shared.runtime import ReadModel, ServiceRuntime
from shared.topicreader import READERS, read_from_beginning


@dataclass
class ReadModelRebuilt:
    name: str
    rows: dict[str, int]  # by table
    messages: int = 0  # read off the topics
    applied: int = 0
    duplicates: int = 0  # already applied: a message the relay published twice
    refused: int = 0  # no CloudEvent, not published, or refused by the handler
    seconds: float = 0.0


@dataclass
class RebuildReport:
    service: str
    client: str
    read_models: list[ReadModelRebuilt] = field(default_factory=list)

    @property
    def messages(self) -> int:
        return sum(model.messages for model in self.read_models)

    @property
    def seconds(self) -> float:
        return sum(model.seconds for model in self.read_models)


class Progress:
    """How far a rebuild is: a rich progress bar (events/s, time left) on a terminal, a plain
    line every few seconds otherwise (a log, a pipe)."""

    def __init__(self, every_seconds: float = 5.0, terminal: bool | None = None) -> None:
        self.terminal = sys.stderr.isatty() if terminal is None else terminal
        self.every_seconds = every_seconds
        self._bar: object | None = None

    def start(self, name: str, total: int) -> Callable[[int], None]:
        """A function told how many more records were read, for one read model."""
        if self.terminal:
            return self._rich(name, total)
        started = last = time.monotonic()
        done = 0

        def advance(count: int) -> None:
            nonlocal done, last
            if count == 0:
                return
            done += count
            now = time.monotonic()
            if now - last >= self.every_seconds or done >= total:
                last = now
                rate = done / max(now - started, 1e-9)
                left = (total - done) / rate if rate else 0.0
                print(
                    f"{name}: {done}/{total} messages, {rate:.0f}/s, {left:.0f} s left",
                    file=sys.stderr,
                    flush=True,
                )

        return advance

    def _rich(self, name: str, total: int) -> Callable[[int], None]:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as Bar

        bar = Bar(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rate]} events/s"),
            TimeRemainingColumn(),
            transient=False,
        )
        bar.start()
        task = bar.add_task(name, total=total, rate="0")
        started = time.monotonic()
        done = 0

        def advance(count: int) -> None:
            nonlocal done
            done += count
            rate = done / max(time.monotonic() - started, 1e-9)
            bar.update(task, advance=count, rate=f"{rate:.0f}")
            if done >= total:
                bar.stop()

        return advance


def rebuild_read_models(
    live: ServiceRuntime,
    fresh: ServiceRuntime,
    names: Iterable[str] | None = None,
    client: str = "kafka-python",
    progress: Progress | None = None,
) -> RebuildReport:
    """Make ``fresh``'s read models (all, or those ``names`` names) again from nothing: the
    Kafka-fed ones from their topics, the others from ``live``'s event store. ``fresh`` is the
    same service built on an empty database, not started."""
    chosen = chosen_read_models(fresh, names)
    report = RebuildReport(fresh.service, client)
    for model in chosen:
        started = time.monotonic()
        if model.consumer is not None:
            consumer = next(c for c in fresh.consumers if c.name == model.consumer)
            rebuilt = _replay_topics(fresh, model, consumer, client, progress or Progress())
        else:
            assert model.from_store is not None
            model.from_store(live.application, fresh.database)
            rebuilt = ReadModelRebuilt(model.name, {})
        rebuilt.rows = table_rows(fresh.database, model.tables)
        rebuilt.seconds = time.monotonic() - started
        report.read_models.append(rebuilt)
    return report


def chosen_read_models(runtime: ServiceRuntime, names: Iterable[str] | None) -> list[ReadModel]:
    """A service's read models, or those named (in full, or by their last part: ``visits``)."""
    if names is None:
        return list(runtime.read_models)
    wanted = set(names)
    chosen = [
        model
        for model in runtime.read_models
        if model.name in wanted or model.name.rsplit(".", 1)[-1] in wanted
    ]
    if len(chosen) < len(wanted):
        known = ", ".join(model.name for model in runtime.read_models)
        raise LookupError(f"{runtime.service} keeps no read model {sorted(wanted)}; it has {known}")
    return chosen


def _replay_topics(
    runtime: ServiceRuntime,
    model: ReadModel,
    consumer: EventConsumer,
    client: str,
    progress: Progress,
) -> ReadModelRebuilt:
    rebuilt = ReadModelRebuilt(model.name, {})
    reader = READERS[client](runtime.kafka)
    try:
        total, records = read_from_beginning(reader, consumer.topics)
        advance = progress.start(model.name, total)
        for record in records:
            rebuilt.messages += 1
            advance(1)
            try:
                message = CloudEvent.from_bytes(record.value)
                if consumer.check is not None:
                    consumer.check(message)
                if consumer.apply_projection(message, record.topic):
                    rebuilt.applied += 1
                else:
                    rebuilt.duplicates += 1
            except (MalformedMessage, UnacceptableMessage):
                rebuilt.refused += 1
        advance(total - rebuilt.messages)  # a partition that starts past 0 ends the bar too
    finally:
        reader.close()
    return rebuilt


def table_rows(database: Database, tables: Iterable[str]) -> dict[str, int]:
    with database.transaction() as tx:
        return {table: int(tx.fetchall(f"SELECT COUNT(*) FROM {table}")[0][0]) for table in tables}
