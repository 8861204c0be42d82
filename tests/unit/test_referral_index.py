"""The referral index answers exactly what the log recorded, reads only what it needs, and
holds nothing personal."""

import uuid
from datetime import UTC, datetime

import pytest

from services.referral.app import ReferralApplication
from services.referral.domain import Referral, ServiceKind, Urgency
from services.referral.index import ReferralIndex, Where
from shared.consent import DataCategory, Purpose
from shared.database import Database

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
MEMORY = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": ":memory:"}


@pytest.fixture
def application(case_keys):
    app = ReferralApplication({"PERSISTENCE_MODULE": "eventsourcing.popo"}, lambda: NOW, case_keys)
    app.attach_index(ReferralIndex(Database.named("index", MEMORY), app))
    return app


def referral(app, case_id: uuid.UUID, agency: str = "SCH-1") -> Referral:
    app.case_keys.for_sealing(case_id)
    made = Referral.make(
        case_id=case_id,
        agency=agency,
        service=ServiceKind.EDUCATION,
        purpose=Purpose.EDUCATION,
        urgency=Urgency.ROUTINE,
        categories=[DataCategory.IDENTITY],
        consent_ids=[uuid.uuid4()],
        shared_data={"name": "Amani Zawadi"},
        answer_by=NOW,
        made_by="cw-1",
        referring_agency="CD-KIN",
    )
    app.save(made)
    return made


def test_the_index_follows_every_fact_that_changes_what_it_answers(application):
    case = uuid.uuid4()
    first, second = referral(application, case), referral(application, case, "SCH-2")
    assert application.index.ids(Where(case_id=case)) == [second.id, first.id]  # newest first
    assert application.index.ids(Where(case_id=case, agency="SCH-2", is_open=True)) == [second.id]
    second.withdraw("no place", "cw-1")
    application.save(second)
    assert application.index.ids(Where(is_open=True)) == [first.id]
    first.withdraw_data("consent_withdrawn", None, NOW)
    application.save(first)
    assert application.index.ids(Where(data_withdrawn=False)) == [second.id]
    assert application.index.count(Where(case_id=case)) == 2


def test_a_page_is_read_in_sql(application):
    case = uuid.uuid4()
    made = [referral(application, case) for _ in range(5)]
    newest_first = [r.id for r in reversed(made)]
    assert application.index.ids(Where(agency="SCH-1"), limit=2, offset=1) == newest_first[1:3]
    referrals, total = application.referrals_of_partner("SCH-1", limit=2, offset=4)
    assert [r.id for r in referrals] == newest_first[4:]
    assert total == 5


def test_an_index_lost_or_behind_catches_up_from_its_position(application, tmp_path):
    case = uuid.uuid4()
    made = [referral(application, case) for _ in range(3)]
    on_disk = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "i")}
    fresh = ReferralIndex(Database.named("index", on_disk), application)
    assert set(fresh.ids(Where(case_id=case))) == {r.id for r in made}
    again = ReferralIndex(fresh.database, application)  # a restart on the same rows
    assert again.count(Where()) == 3


def test_the_index_holds_nothing_personal(application):
    referral(application, uuid.uuid4())
    application.index.catch_up()
    with application.index.database.transaction() as tx:
        rows = tx.fetchall("SELECT * FROM referral_index")
    assert "Amani" not in str(rows)
    assert len(rows) == 1


def test_catching_up_holds_no_connection_while_it_reads_the_log(case_keys, tmp_path):
    """The index shares the event store's connection pool, as in the service. A catch-up that
    read the log while holding its write transaction asked the pool for a second connection:
    a writer queued meanwhile (the relay, an access record) held the pool's turn and waited
    for the catch-up's writer, and both waited until the pool timed out (5 s, then a 500)."""
    store = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "db")}
    app = ReferralApplication(store, lambda: NOW, case_keys)
    pool = app.factory.datastore.pool
    app.attach_index(ReferralIndex(Database.of(app), app))
    read_log = app.recorder.select_notifications
    in_use_while_reading = []

    def reading(*args, **kwargs):
        in_use_while_reading.append(pool.num_in_use)
        return read_log(*args, **kwargs)

    app.recorder.select_notifications = reading
    made = referral(app, uuid.uuid4())
    assert app.index.ids(Where(agency="SCH-1")) == [made.id]
    assert in_use_while_reading == [0]
