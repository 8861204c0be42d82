"""The case list keeps when each case's earliest unmet deadline falls, so "overdue now" is a
comparison in SQL; a list kept before that column existed gets it on start."""

from datetime import UTC, datetime

from services.intake.programme import Programme
from services.intake.projections import (
    ADDED_COLUMNS,
    CASE_LIST_DDL,
    COLUMNS,
    CaseFilter,
    CaseProjections,
)
from shared.database import Database

NOW = datetime(2026, 10, 4, 12, 0, tzinfo=UTC)


def old_row(case_id: str, released_on: str, handed_over_at: str | None) -> dict:
    return {
        "case_id": case_id,
        "case_number": f"CD-KIN-2026-{case_id}",
        "registering_agency": "CD-KIN",
        "caseworker": "cw-1",
        "sex": "female",
        "age_band": "15-17",
        "stage": "registered",
        "route": "child_protection",
        "risk_level": None,
        "flags": "[]",
        "released_on": released_on,
        "handed_over_at": handed_over_at,
        "care_entered_on": None,
        "care_extended_until": None,
        "risk_set_at": None,
        "risk_responded_at": None,
        "registered_at": "2026-10-01T10:00:00+00:00",
        "version": 1,
        "sealed_name": None,
        "erased": 0,
    }


def test_a_list_from_before_the_column_gets_it_computed_and_filters_in_sql(case_keys, tmp_path):
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "db")}
    database = Database.named("intake", env)
    before = CASE_LIST_DDL.replace(",\n    overdue_from TEXT", "").replace(
        "    plan_reviewed_on TEXT,\n", ""
    )
    assert "overdue_from" not in before
    assert "plan_reviewed_on" not in before
    old_columns = [column for column in COLUMNS if column not in ADDED_COLUMNS]
    with database.transaction() as tx:
        tx.execute(before)
        for row in (
            old_row("late", "2026-10-01", None),  # handover due 3 October: overdue
            old_row("met", "2026-10-01", "2026-10-02T09:00:00+00:00"),
            old_row("recent", "2026-10-04", None),  # due 6 October
        ):
            tx.execute(
                f"INSERT INTO intake_case_list ({', '.join(old_columns)}) "
                f"VALUES ({', '.join('?' for _ in old_columns)})",
                [row[column] for column in old_columns],
            )
    projections = CaseProjections(database, case_keys, Programme(), lambda: NOW)
    overdue = projections.cases(CaseFilter(overdue=True), limit=10, offset=0)
    assert [case.case_id for case in overdue.items] == ["late"]
    on_time = projections.cases(CaseFilter(overdue=False), limit=10, offset=0)
    assert {case.case_id for case in on_time.items} == {"met", "recent"}
    assert on_time.total == 2
    with database.transaction() as tx:
        [(due,)] = tx.fetchall("SELECT overdue_from FROM intake_case_list WHERE case_id = 'recent'")
    assert due == "2026-10-06T00:00:00.000000+00:00"
