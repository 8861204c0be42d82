"""The statistics projection as a case changes: its counts follow the case (a consent
withdrawn, a correction, a message again, topics in another order) and survive its erasure,
while what they were made from goes with the case's key."""

import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest

from services.intake.domain import ChildCase
from services.intake.programme import Programme
from services.intake.reports.projection import Coarsening, StatisticsProjection, contributions
from services.intake.reports.replay import IN_MEMORY
from services.intake.reports.tables import Scope, build_report
from shared.database import Database
from shared.keyring import CaseKeys
from tests.conftest import in_memory_keyring
from tests.synthetic import SyntheticProgramme, at_noon, generate

LATER = datetime(2027, 1, 4, 12, tzinfo=UTC)
GIVEN = date(2027, 2, 1)
REUNIFIED = {"address": None, "recorded_by": "cw-1", "reunified_on": GIVEN, "stage": "reunified"}


@pytest.fixture
def world():
    keyring = in_memory_keyring()
    programme = generate(seed=11, count=40, case_keys=CaseKeys(keyring, "intake"))
    projection = StatisticsProjection(
        Database.named("statistics", IN_MEMORY), CaseKeys(keyring, "statistics")
    )
    return programme, projection, keyring


def applied(projection: StatisticsProjection, messages) -> Counter:
    with projection.database.transaction() as tx:
        for _service, message in messages:
            projection.apply(message, tx)
    return Counter({cell: count for cell, count in projection.cells()})


def consenting_case(programme: SyntheticProgramme):
    """A case counted in the tables, with its statistics consent's id."""
    for case_id, case in programme.cases.items():
        events = [e for _s, c, e in programme.events if c == case_id]
        given = [e for e in events if type(e).__name__ == "ConsentGiven"]
        withdrawn = any(type(e).__name__ == "ConsentWithdrawn" for e in events)
        if given and not withdrawn and case_id not in programme.erased:
            return case, given[0].consent_id, events[0]
    raise AssertionError("no consenting case in the seeded programme")


def cells_of(counts: Counter, table: str) -> Counter:
    return Counter({cell: n for cell, n in counts.items() if cell[0] == table})


def test_a_consent_withdrawn_moves_the_case_to_the_no_consent_line(world):
    programme, projection, _ = world
    before = applied(projection, programme.messages)
    case, consent_id, registered = consenting_case(programme)
    start = len(programme.messages)
    case.intake(ChildCase.ConsentWithdrawn, LATER, consent_id=consent_id, recorded_by="cw-1")
    after = applied(projection, programme.messages[start:])
    month, agency = registered.released_on.isoformat()[:7], registered.registering_agency
    no_consent = ("no_consent", month, agency, "cases", "total")
    assert after[no_consent] == before[no_consent] + 1
    assert sum(cells_of(after, "releases_by_age").values()) == (
        sum(cells_of(before, "releases_by_age").values()) - 1
    )
    # The case left every cell it counted in; no cell gained but its one line.
    changed = {cell for cell in before.keys() | after.keys() if before[cell] != after[cell]}
    assert all(after[cell] < before[cell] for cell in changed if cell != no_consent)
    assert len(changed) >= 5  # its party, age, exit and region, and its line


def test_a_corrected_sex_moves_the_case_from_one_column_to_the_other(world):
    programme, projection, _ = world
    before = applied(projection, programme.messages)
    case, _consent, registered = consenting_case(programme)
    other = "male" if registered.sex == "female" else "female"
    start = len(programme.messages)
    case.intake(
        ChildCase.FieldCorrected,
        LATER,
        field="sex",
        value=other,
        reason="recorded wrongly",
        corrected_by="cw-1",
    )
    after = applied(projection, programme.messages[start:])
    ages_before, ages_after = (
        cells_of(before, "releases_by_age"),
        cells_of(after, "releases_by_age"),
    )
    moved = {cell: ages_after[cell] - ages_before[cell] for cell in ages_before | ages_after}
    assert sorted(v for v in moved.values() if v) == [-1, 1]
    assert {cell[4] for cell, v in moved.items() if v == 1} == {other}


def test_an_erasure_keeps_the_counts_and_drops_the_sealed_profile(world):
    programme, projection, keyring = world
    before = applied(projection, programme.messages)
    case, _consent, _registered = consenting_case(programme)
    start = len(programme.messages)
    case.intake(ChildCase.CaseErased, LATER, erasure_reason="child_request", requested_by="sv-1")
    keyring.destroy(case.case_id)
    after = applied(projection, programme.messages[start:])
    assert after == before
    with projection.database.transaction() as tx:
        rows = tx.fetchall(
            "SELECT sealed_profile FROM statistics_case_profiles WHERE case_id = ?",
            (str(case.case_id),),
        )
    assert rows == [("erased",)]
    # Its messages again (a redelivery, a replay without an inbox): nothing counts twice.
    assert applied(projection, programme.messages) == before


def test_messages_again_or_in_another_order_of_topics_count_the_same(world):
    programme, projection, keyring = world
    once = applied(projection, programme.messages)
    again = applied(projection, programme.messages)
    assert again == once
    # The follow-up and referral topics read before intake's: a fresh projection.
    fresh = StatisticsProjection(
        Database.named("statistics", IN_MEMORY), CaseKeys(keyring, "statistics")
    )
    reordered = sorted(programme.messages, key=lambda item: item[0] == "intake")
    assert applied(fresh, reordered) == once


def case_without_consent(programme: SyntheticProgramme):
    for case_id, case in programme.cases.items():
        events = [e for _s, c, e in programme.events if c == case_id]
        if case_id not in programme.erased and not any(
            type(e).__name__ == "ConsentGiven" for e in events
        ):
            return case, events[0]
    raise AssertionError("every case of the seeded programme consented")


def consent(case, day: date, expires_on: date | None) -> None:
    case.intake(
        ChildCase.ConsentGiven,
        at_noon(day),
        consent_id=uuid.uuid4(),
        given_by="child_consent",
        purpose="statistics",
        recipients=["CD-GOM"],
        categories=["education"],
        given_on=day,
        expires_on=expires_on,
        recorded_by="cw-1",
        approved_by=None,
    )


def outcomes_of(counts: Counter, registered) -> Counter:
    """The case's outcome rows (the only case of its month and agency counted below)."""
    month, agency = registered.released_on.isoformat()[:7], registered.registering_agency
    return Counter(
        {cell[3]: n for cell, n in counts.items() if cell[:3] == ("outcomes", month, agency)}
    )


def test_a_consent_counts_what_is_recorded_until_it_expires_and_keeps_it_counted(world):
    programme, projection, _ = world
    before = applied(projection, programme.messages)
    case, registered = case_without_consent(programme)
    start = len(programme.messages)
    consent(case, GIVEN, expires_on=GIVEN + timedelta(days=30))
    case.intake(ChildCase.Reunified, at_noon(GIVEN + timedelta(days=10)), **REUNIFIED)
    # Recorded after the consent's last day: not counted.
    closed = {"notes": None, "closed_by": "cw-1", "stage": "closed"}
    day = GIVEN + timedelta(days=31)
    case.intake(ChildCase.CaseClosed, at_noon(day), reason="lost_contact", closed_on=day, **closed)
    after = applied(projection, programme.messages[start:])
    month, agency = registered.released_on.isoformat()[:7], registered.registering_agency
    no_consent = ("no_consent", month, agency, "cases", "total")
    assert after[no_consent] == before[no_consent] - 1
    assert sum(cells_of(after, "releases_by_age").values()) == (
        sum(cells_of(before, "releases_by_age").values()) + 1
    )
    gained = outcomes_of(after, registered) - outcomes_of(before, registered)
    assert gained == Counter({"reunified": 1})
    # A report made long after the expiry, of the month the child was released in, counts
    # the child as recorded while the consent held: the counts kept do not follow the clock.
    scope = Scope(month, month, agency=agency)
    made_later = datetime(2030, 1, 1, tzinfo=UTC)

    def children(counts: Counter) -> int:
        ages = build_report(list(counts.items()), scope, 2, made_later).table("releases_by_age")
        return ages.grid.values[-1][-1]

    assert children(after) == children(before) + 1
    # A consent given again counts what is recorded from then on.
    start = len(programme.messages)
    again = GIVEN + timedelta(days=60)
    consent(case, again, expires_on=None)
    case.intake(
        ChildCase.CaseClosed, at_noon(again), reason="re_recruited", closed_on=again, **closed
    )
    renewed = applied(projection, programme.messages[start:])
    gained = outcomes_of(renewed, registered) - outcomes_of(after, registered)
    assert gained == Counter({"re recruited": 1})


def pending_visits(profile: dict) -> list:
    cells = contributions(profile, Coarsening(), Programme())
    return [cell for cell in cells if cell[0] == "visits_pending"]


def test_a_visit_falling_due_after_the_consent_expired_is_not_counted_as_pending():
    profile = {
        "registered": {
            "agency": "CD-GOM",
            "released_on": "2027-01-10",
            "date_of_birth": None,
            "estimated_age": 15,
            "sex": "female",
            "how_left": "escape",
            "place": "Masisi",
            "party": "M23",
            "kind": "non_state_armed_group",
        },
        "consents": {"c-1": "2027-03-31"},
        "visits": {"1": {"due_on": "2027-03-31"}, "2": {"due_on": "2027-04-01"}},
    }
    pending = pending_visits(profile)
    assert pending == [("visits_pending", "2027-01", "CD-GOM", "2027-03", "female")]
    # A consent without an end counts both.
    profile["consents"]["c-2"] = None
    pending = pending_visits(profile)
    assert len(pending) == 2
