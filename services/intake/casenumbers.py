"""Case numbers, unique within an agency and a year, issued without making registrations wait
on one another.

One row per agency and year in the service's own database holds how many numbers were issued;
a registration takes the next one by incrementing it in a single statement (an upsert with
``RETURNING``, on SQLite 3.35+ and PostgreSQL alike), which the database makes atomic. It
replaced saving an ``AgencyCaseCounter`` aggregate with each new case: every registration at
one agency then conflicted with all the others of that year and retried, and under a few
concurrent caseworkers many failed. The row is not an event: the number is recorded in the
case's ``ChildRegistered``, as before.

A number taken by a registration whose case then fails to save is not issued again: numbers
may have gaps, never duplicates.
"""

from collections.abc import Callable

from services.intake.domain import case_number
from shared.database import Database

CASE_NUMBERS_DDL = """CREATE TABLE IF NOT EXISTS intake_case_numbers (
    agency TEXT NOT NULL,
    year INTEGER NOT NULL,
    issued INTEGER NOT NULL,
    PRIMARY KEY (agency, year)
)"""


class CaseNumbers:
    def __init__(self, database: Database, issued_by_counter: Callable[[str, int], int]) -> None:
        """``issued_by_counter``: how many numbers an agency's ``AgencyCaseCounter`` issued in
        a year, before the rows here: its agency and year's row starts after them."""
        self.database = database
        self.issued_by_counter = issued_by_counter
        with database.transaction() as tx:
            tx.execute(CASE_NUMBERS_DDL)

    def next(self, agency: str, year: int) -> str:
        with self.database.transaction() as tx:
            started = tx.fetchall(
                "SELECT 1 FROM intake_case_numbers WHERE agency = ? AND year = ?", (agency, year)
            )
        # Only a row not there yet needs its start: two registrations that both find it
        # missing both insert it, and the second one's conflict increments it instead.
        first = 1 if started else self.issued_by_counter(agency, year) + 1
        with self.database.transaction() as tx:
            ((issued,),) = tx.fetchall(
                "INSERT INTO intake_case_numbers (agency, year, issued) VALUES (?, ?, ?) "
                "ON CONFLICT (agency, year) DO UPDATE SET issued = intake_case_numbers.issued + 1 "
                "RETURNING issued",
                (agency, year, first),
            )
        return case_number(agency, year, int(issued))
