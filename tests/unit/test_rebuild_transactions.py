"""A rebuild applies many messages in one transaction; what each refused message wrote is
undone, and only that."""

from pathlib import Path

from shared.consumer import EventConsumer, UnacceptableMessage
from shared.database import Database, Transaction
from shared.envelope import CloudEvent
from shared.kafka import KafkaConnection
from shared.rebuild import ReadModelRebuilt, apply_record
from shared.topicreader import Record
from tests.samples import probe

TOPIC = "homeward.intake.events"


def test_a_refused_message_leaves_nothing_and_the_others_of_its_transaction_stay(tmp_path: Path):
    database = Database.named(
        "rebuilt",
        {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "r.db")},
    )
    with database.transaction() as tx:
        tx.execute("CREATE TABLE noted (number INTEGER NOT NULL)")

    def apply(message: CloudEvent, tx: Transaction) -> None:
        tx.execute("INSERT INTO noted VALUES (?)", (message.data["number"],))
        if message.data["refuse"]:
            raise UnacceptableMessage("refused after writing")

    consumer = EventConsumer("rebuild-test", [TOPIC], KafkaConnection("unused:9"), database, apply)
    values = [probe(number=n, refuse=n == 2).to_bytes() for n in (1, 2, 3, 1)] + [b"not json"]
    records = [Record(TOPIC, 0, offset, b"k", value) for offset, value in enumerate(values)]
    records[3] = records[0]  # the relay published the first one twice
    rebuilt = ReadModelRebuilt("noted", {})

    with database.transaction() as tx:
        for record in records:
            apply_record(record, consumer, tx, rebuilt)

    with database.transaction() as tx:
        assert tx.fetchall("SELECT number FROM noted ORDER BY number") == [(1,), (3,)]
        (inbox,) = tx.fetchall("SELECT COUNT(*) FROM homeward_inbox")[0]
    assert inbox == 2
    assert (rebuilt.messages, rebuilt.applied, rebuilt.duplicates, rebuilt.refused) == (5, 2, 1, 2)
