"""Rebuilding a service's read models from nothing, into a database of their own.

Each read model is made again by the very handler its live consumer runs, over its topics
from the first offset to the end they have when the rebuild starts, in a fresh runtime of
the service (its own empty database, the platform's keyring): the live database, its
consumer groups and the dead-letter topics are not touched. A message the live consumer
parked is not applied here either (it is counted as refused). The referral index, kept from
the service's own notification log, is made again from that log.

:func:`swap_in` then replaces the live rows with the rebuilt ones, in one transaction per
read model, and moves its consumer group to where the rebuild stopped reading: the live
consumer goes on from there. Its consumer must not run meanwhile: in this process
:func:`swap_in` stops it; a service running elsewhere is stopped first.
"""

import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from shared.consumer import EventConsumer, UnacceptableMessage
from shared.database import Database, Transaction
from shared.envelope import CloudEvent, MalformedMessage
from shared.kafka import commit_group_offsets
from shared.runtime import ReadModel, ServiceRuntime
from shared.topicreader import READERS, Partition, Record, read_from_beginning

# A rebuild writes into a database of its own, which it makes again from nothing if it
# fails: committing once per message (as the live consumer must) would cost it more than
# everything else it does. Also the progress bar's step.
MESSAGES_PER_TRANSACTION = 1_000


@dataclass
class ReadModelRebuilt:
    name: str
    rows: dict[str, int]  # by table
    messages: int = 0  # read off the topics
    applied: int = 0
    duplicates: int = 0  # already applied: a message the relay published twice
    refused: int = 0  # no CloudEvent, not published, or refused by the handler
    seconds: float = 0.0
    ends: dict[Partition, int] = field(default_factory=dict)  # read up to, by partition


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
        rebuilt.ends, records = read_from_beginning(reader, consumer.topics)
        # The start of an expired partition is not 0: the total is an upper bound then.
        total = sum(rebuilt.ends.values())
        advance = progress.start(model.name, total)
        while chunk := list(islice(records, MESSAGES_PER_TRANSACTION)):
            with runtime.database.transaction() as tx:
                for record in chunk:
                    apply_record(record, consumer, tx, rebuilt)
            advance(len(chunk))
        advance(total - rebuilt.messages)  # a partition that starts past 0 ends the bar too
    finally:
        reader.close()
    return rebuilt


def apply_record(
    record: Record, consumer: EventConsumer, tx: Transaction, rebuilt: ReadModelRebuilt
) -> None:
    """Apply one record in the rebuild's transaction; a message refused leaves nothing of
    itself in it (its own savepoint is rolled back), as the live consumer's own transaction
    per message would."""
    rebuilt.messages += 1
    try:
        message = CloudEvent.from_bytes(record.value)
        if consumer.check is not None:
            consumer.check(message)
    except (MalformedMessage, UnacceptableMessage):
        rebuilt.refused += 1
        return
    tx.execute("SAVEPOINT rebuild_message")
    try:
        applied = consumer.apply_projection_in(tx, message, record.topic)
    except UnacceptableMessage:
        tx.execute("ROLLBACK TO SAVEPOINT rebuild_message")
        tx.execute("RELEASE SAVEPOINT rebuild_message")
        rebuilt.refused += 1
        return
    tx.execute("RELEASE SAVEPOINT rebuild_message")
    if applied:
        rebuilt.applied += 1
    else:
        rebuilt.duplicates += 1


def table_rows(database: Database, tables: Iterable[str]) -> dict[str, int]:
    with database.transaction() as tx:
        return {table: int(tx.fetchall(f"SELECT COUNT(*) FROM {table}")[0][0]) for table in tables}


def swap_in(live: ServiceRuntime, fresh: ServiceRuntime, report: RebuildReport) -> None:
    """Replace ``live``'s rows of each rebuilt read model with ``fresh``'s, its consumer's inbox
    with the rebuild's, and move its consumer group to where the rebuild stopped. The live
    consumers concerned that run in this process stop for the swap only (they served the old
    rows until then) and start again from there."""
    rebuilt = {model.name for model in report.read_models}
    stopped = [c for c in live.consumers if c.name in rebuilt and c.running]
    for consumer in stopped:
        consumer.stop()
    try:
        _swap(live, fresh, report)
    finally:
        for consumer in stopped:
            consumer.start()


def _swap(live: ServiceRuntime, fresh: ServiceRuntime, report: RebuildReport) -> None:
    models = {model.name: model for model in fresh.read_models}
    for rebuilt in report.read_models:
        model = models[rebuilt.name]
        with fresh.database.transaction() as source:
            tables = {table: source.fetchall(f"SELECT * FROM {table}") for table in model.tables}
            inbox = source.fetchall(
                "SELECT * FROM homeward_inbox WHERE consumer = ?", (model.consumer,)
            )
        with live.database.transaction() as target:
            for table, rows in tables.items():
                target.execute(f"DELETE FROM {table}")
                _insert(target, table, rows)
            if model.consumer is not None:
                target.execute("DELETE FROM homeward_inbox WHERE consumer = ?", (model.consumer,))
                _insert(target, "homeward_inbox", inbox)
        if model.consumer is not None:
            commit_group_offsets(live.kafka, model.consumer, rebuilt.ends)


def _insert(tx: Transaction, table: str, rows: list[tuple[Any, ...]]) -> None:
    for row in rows:
        tx.execute(f"INSERT INTO {table} VALUES ({', '.join('?' * len(row))})", row)
