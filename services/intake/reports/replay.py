"""A report made from a replay: the three event topics read from their first offset into a
fresh statistics projection held in memory (nothing of it is written to disk), and the report
built from its cells."""

import time
from dataclasses import dataclass
from datetime import datetime

from services.intake.programme import Programme
from services.intake.reports.projection import REPORT_TOPICS, Coarsening, StatisticsProjection
from services.intake.reports.tables import Report, Scope, build_report
from shared.crypto import SealError
from shared.database import Database
from shared.envelope import CloudEvent, MalformedMessage
from shared.keyring import CaseKeys
from shared.signatures import Verdict
from shared.topicreader import TopicReader, read_from_beginning

IN_MEMORY = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": ":memory:"}


@dataclass
class ReplayFigures:
    messages: int = 0
    applied: int = 0
    duplicates: int = 0
    refused: int = 0  # not a CloudEvent, or data the projection cannot read
    forged: int = 0  # without its service's signature: altered or forged on the topic
    seconds: float = 0.0


def replay_statistics(
    projection: StatisticsProjection, reader: TopicReader, topics: list[str]
) -> ReplayFigures:
    """Apply every message of ``topics`` (to the ends they had when it started), each once
    (by CloudEvent ``id``: the outbox may have published one twice). A message without its
    service's signature counts nothing: whoever can write to a topic, but is not the service,
    can neither add children to a report nor take any away (every message the platform
    publishes is signed)."""
    started = time.monotonic()
    figures = ReplayFigures()
    signatures = projection.case_keys.keyring.signature_check()
    seen: set[str] = set()
    _ends, records = read_from_beginning(reader, topics)
    with projection.database.transaction() as tx:
        for record in records:
            figures.messages += 1
            try:
                message = CloudEvent.from_bytes(record.value)
            except MalformedMessage:
                figures.refused += 1
                continue
            if signatures.verdict(message) is not Verdict.VALID:
                figures.forged += 1
                continue
            if message.id in seen:
                figures.duplicates += 1
                continue
            seen.add(message.id)
            try:
                # Raised before the projection writes anything for the message.
                projection.apply(message, tx)
            except (KeyError, TypeError, ValueError, SealError):
                figures.refused += 1
                continue
            figures.applied += 1
    figures.seconds = time.monotonic() - started
    return figures


def report_from_topics(
    reader: TopicReader,
    case_keys: CaseKeys,
    scope: Scope,
    threshold: int,
    made_at: datetime,
    coarsening: Coarsening | None = None,
    programme: Programme | None = None,
    topics: list[str] | None = None,
) -> tuple[Report, ReplayFigures]:
    projection = StatisticsProjection(
        Database.named("statistics", IN_MEMORY), case_keys, coarsening, programme
    )
    figures = replay_statistics(projection, reader, list(topics or REPORT_TOPICS))
    return build_report(projection.cells(), scope, threshold, made_at), figures
