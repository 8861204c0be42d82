"""The statistics projection: counts per cell, kept from the three event topics.

Intake keeps it live, in its own database, from ``homeward.intake.events``,
``homeward.referral.events`` and ``homeward.followup.events`` (:meth:`StatisticsProjection.
subscription`; so it is rebuilt by replaying them, and ``homeward report --replay`` makes one
in memory). It opens each message's sealed fields with the case's key in memory, and keeps
two things:

- ``statistics_cells``: how many children count in each cell of each table, by the month of
  release and the registering agency. A cell's labels come from fixed vocabularies and the
  programme's reference lists (:class:`Coarsening`), never from what a caseworker typed, so
  no free text and no exact date or place is at rest. Durations are counted in buckets (a
  histogram per table), from which the median and the 90th percentile are read as a bucket.
- ``statistics_case_profiles``: per case, what the counts need to change when the case does
  (its sex and age band are known at registration, its return months later, its consent may
  come or go) and the cells it counts in now, **sealed as one value with the case's own key**.
  Nothing in it is readable without that key. On erasure the profile gives way to the word
  ``erased`` (so that nothing about the case counts again) and the counts it made stay,
  while no personal value does.

Each message updates the case's profile; the cells it counts in are then computed again from
the whole profile (:func:`contributions`) and only the difference is applied to the counts.
So the order in which the three topics arrive does not matter, a message applied twice
changes nothing, and a consent given or withdrawn later moves the case between its cells and
the one "no consent for statistics" line.

A case counts in the tables only while it holds a consent for the ``statistics`` or the
``monitoring`` purpose that was not withdrawn; the others count in ``no_consent``. Once every
such consent expired, what is recorded later changes nothing (:func:`recorded_after_consent`):
the case keeps counting what was recorded while a consent held, as an erased case does. A case
whose key is gone when its registration is read (erased before a replay) counts in ``erased``
by the month its registration was recorded: its details are unreadable, as they should be.
"""

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import pairwise
from typing import Any
from uuid import UUID

from services.intake.domain import age_band, start_of_day
from services.intake.programme import Programme
from shared.consent import AGGREGATE_PURPOSES
from shared.database import Database, Transaction
from shared.envelope import CloudEvent, event_type, event_types
from shared.kafka import SERVICES, event_topic
from shared.keyring import CaseKeys
from shared.privacy import open_personal_fields
from shared.runtime import Subscription

PROFILE_FIELD = "statistics_profile"  # the name the sealed profile is bound to
# What an erased case's row holds instead of its profile: that it was erased (a fact in clear
# on the topic too), so that nothing about it is counted again.
ERASED_CASE = "erased"
SEXES = ("female", "male")
REPORT_TOPICS = tuple(event_topic(service) for service in SERVICES)
STATISTICS_CONSUMER = "homeward.intake.statistics"
STATISTICS_TABLES = ("statistics_cells", "statistics_case_profiles")

CELLS_DDL = """CREATE TABLE IF NOT EXISTS statistics_cells (
    table_name TEXT NOT NULL,
    month TEXT NOT NULL,
    agency TEXT NOT NULL,
    row_label TEXT NOT NULL,
    column_label TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (table_name, month, agency, row_label, column_label)
)"""
PROFILES_DDL = """CREATE TABLE IF NOT EXISTS statistics_case_profiles (
    case_id TEXT PRIMARY KEY,
    sealed_profile TEXT NOT NULL
)"""

# Bucket edges: each deadline's default is an edge, so "past the deadline" is exact there.
HANDOVER_HOURS = (0, 6, 12, 24, 36, 48, 72, 96, 168, 336)
INTERIM_CARE_WEEKS = (0, 1, 2, 4, 6, 8, 10, 12, 16, 20, 26, 52)
ANSWER_HOURS = (0, 6, 12, 24, 48, 72, 120, 168, 336)

UNLISTED_REGION = "region not on the programme's list"
UNLISTED_PARTY = "group not on the programme's list"


def bucket_label(value: float, edges: Sequence[float], unit: str) -> str:
    """The bucket ``value`` falls in, as ``"24-36 h"``; the last is open, ``"336+ h"``."""
    for low, high in pairwise(edges):
        if value < high:
            return f"{low:g}-{high:g} {unit}"
    return f"{edges[-1]:g}+ {unit}"


def bucket_labels(edges: Sequence[float], unit: str) -> list[str]:
    return [bucket_label(edge, edges, unit) for edge in edges]


@dataclass(frozen=True)
class Coarsening:
    """The programme's reference lists: which places lie in which region, and which armed
    forces and groups are listed (by the names caseworkers record for them). Anything not on
    a list is counted under one label for all the unlisted, so that no typed name is ever a
    cell's label."""

    regions: dict[str, str] = field(default_factory=dict)  # place -> region
    parties: dict[str, str] = field(default_factory=dict)  # name recorded -> listed name

    @classmethod
    def from_file(cls, path: str) -> "Coarsening":
        with open(path, encoding="utf-8") as file:
            document = json.load(file)
        return cls(regions=document.get("regions", {}), parties=document.get("parties", {}))

    def region(self, place: str) -> str:
        """The region of a place of release recorded as ``"Kalehe, near the river"``: its
        first part, compared without case."""
        known = {name.casefold(): region for name, region in self.regions.items()}
        return known.get(place.split(",")[0].strip().casefold(), UNLISTED_REGION)

    def party(self, name: str) -> str:
        known = {recorded.casefold(): listed for recorded, listed in self.parties.items()}
        return known.get(name.strip().casefold(), UNLISTED_PARTY)


Cell = tuple[str, str, str, str, str]  # table, month, agency, row, column


def intake(name: str) -> str:
    return event_type("intake", name, 1)


def referral(name: str) -> str:
    return event_type("referral", name, 1)


def followup(name: str) -> str:
    return event_type("followup", name, 1)


REGISTERED = event_types("intake", "ChildRegistered", 1, 2)
HANDED_OVER = event_types("intake", "HandedOver", 1, 2)
VISIT_COMPLETED = event_types("followup", "VisitCompleted", 1, 2)
IN_SCHOOL_MILESTONES = frozenset(
    {"education_enrolled", "attendance_reported", "training_completed"}
)
EARNING_MILESTONES = frozenset({"livelihood_started", "income_reported"})
CLOSURE_OUTCOMES = {"lost_contact": "lost_to_follow_up", "re_recruited": "re_recruited"}
OUTCOMES = (
    "reunified",
    # Of the children reunified, those whose return broke down since (at least once): a
    # return that did not hold is not a reunification a programme can count as one.
    "return_broke_down",
    "alternative_care",
    "tracing_unsuccessful",
    "in_school_or_training",
    "earning",
    "lost_to_follow_up",
    "re_recruited",
)


def _registered(profile: dict[str, Any], data: dict[str, Any], _m: CloudEvent) -> None:
    profile["registered"] = {
        "agency": data["registering_agency"],
        "released_on": data["released_on"],
        "date_of_birth": data.get("date_of_birth"),
        "estimated_age": data["estimated_age"],
        "sex": data["sex"],
        "how_left": data["how_left"],
        "place": data["release_place"],
        "party": data["armed_group"],
        "kind": data["armed_group_kind"],
    }


def _corrected(profile: dict[str, Any], data: dict[str, Any], _m: CloudEvent) -> None:
    fields = {"sex": "sex", "estimated_age": "estimated_age", "date_of_birth": "date_of_birth"}
    fields["release_place"] = "place"
    if "registered" in profile and data["field"] in fields:
        profile["registered"][fields[data["field"]]] = data["value"]


def _handed_over(profile: dict[str, Any], data: dict[str, Any], _m: CloudEvent) -> None:
    profile.setdefault("handed_over_at", data["handed_over_at"])  # the first handover


def _placed(profile: dict[str, Any], data: dict[str, Any], _m: CloudEvent) -> None:
    if data["kind"] != "direct_return":  # recorded so before: not interim care
        profile.setdefault("care_entered_on", data["entered_on"])  # the first stay


def _care_ended(profile: dict[str, Any], data: dict[str, Any], _m: CloudEvent) -> None:
    if "care_entered_on" in profile:
        profile.setdefault("care_left_on", data["left_on"])


def _consented(profile: dict[str, Any], data: dict[str, Any], _m: CloudEvent) -> None:
    if data["purpose"] in AGGREGATE_PURPOSES:
        profile.setdefault("consents", {})[data["consent_id"]] = data.get("expires_on")


def _withdrawn(profile: dict[str, Any], data: dict[str, Any], _m: CloudEvent) -> None:
    profile.setdefault("withdrawn", []).append(data["consent_id"])


def _outcome(name: str) -> Callable[[dict[str, Any], dict[str, Any], CloudEvent], None]:
    def record(profile: dict[str, Any], _data: dict[str, Any], _m: CloudEvent) -> None:
        _note_outcome(profile, name)

    return record


def _note_outcome(profile: dict[str, Any], name: str) -> None:
    # Sorted: the profile is the same whichever topic told an outcome first (a rebuild's
    # rows equal the live ones).
    profile["outcomes"] = sorted({*profile.get("outcomes", []), name})


def _closed(profile: dict[str, Any], data: dict[str, Any], _m: CloudEvent) -> None:
    if data["reason"] in CLOSURE_OUTCOMES:
        _note_outcome(profile, CLOSURE_OUTCOMES[data["reason"]])


def _referral_made(profile: dict[str, Any], data: dict[str, Any], message: CloudEvent) -> None:
    made = _referral(profile, message)
    made.update(partner=data["agency"], service=data["service"], made_at=_time(message))


def _referral_answer(state: str) -> Callable[[dict[str, Any], dict[str, Any], CloudEvent], None]:
    def record(profile: dict[str, Any], _data: dict[str, Any], message: CloudEvent) -> None:
        answered = _referral(profile, message)
        answered[state] = True
        if state in ("accepted", "declined"):
            answered.setdefault("answered_at", _time(message))

    return record


def _milestone(profile: dict[str, Any], data: dict[str, Any], _m: CloudEvent) -> None:
    if data["milestone"] in IN_SCHOOL_MILESTONES:
        _note_outcome(profile, "in_school_or_training")
    if data["milestone"] in EARNING_MILESTONES:
        _note_outcome(profile, "earning")


def _referral(profile: dict[str, Any], message: CloudEvent) -> dict[str, Any]:
    referrals: dict[str, dict[str, Any]] = profile.setdefault("referrals", {})
    return referrals.setdefault(str(message.subject), {})


def _time(message: CloudEvent) -> str | None:
    return None if message.time is None else message.time.isoformat()


def _visit(profile: dict[str, Any], number: Any) -> dict[str, Any]:
    visits: dict[str, dict[str, Any]] = profile.setdefault("visits", {})
    return visits.setdefault(str(number), {})


def _visit_scheduled(profile: dict[str, Any], data: dict[str, Any], _m: CloudEvent) -> None:
    _visit(profile, data["number"])["due_on"] = data["due_on"]


def _visit_completed(profile: dict[str, Any], data: dict[str, Any], _m: CloudEvent) -> None:
    _visit(profile, data["number"])["visited_on"] = data["visited_on"]
    if data.get("attending_school"):
        _note_outcome(profile, "in_school_or_training")


def _visit_missed(profile: dict[str, Any], data: dict[str, Any], _m: CloudEvent) -> None:
    _visit(profile, data["number"])["missed"] = True


Change = Callable[[dict[str, Any], dict[str, Any], CloudEvent], None]
CHANGES: dict[str, Change] = {
    **dict.fromkeys(REGISTERED, _registered),
    **dict.fromkeys(HANDED_OVER, _handed_over),
    intake("FieldCorrected"): _corrected,
    intake("InterimCarePlaced"): _placed,
    intake("InterimCareEnded"): _care_ended,
    intake("ConsentGiven"): _consented,
    intake("ConsentWithdrawn"): _withdrawn,
    intake("Reunified"): _outcome("reunified"),
    intake("ReunificationBrokeDown"): _outcome("return_broke_down"),
    intake("AlternativeCareArranged"): _outcome("alternative_care"),
    intake("TracingClosedUnsuccessful"): _outcome("tracing_unsuccessful"),
    intake("CaseClosed"): _closed,
    referral("ReferralMade"): _referral_made,
    referral("ReferralAccepted"): _referral_answer("accepted"),
    referral("ReferralDeclined"): _referral_answer("declined"),
    referral("ServiceCompleted"): _referral_answer("completed"),
    referral("MilestoneReported"): _milestone,
    followup("VisitScheduled"): _visit_scheduled,
    **dict.fromkeys(VISIT_COMPLETED, _visit_completed),
    followup("VisitMissed"): _visit_missed,
}


def age_at_release(registered: dict[str, Any]) -> int:
    released = date.fromisoformat(registered["released_on"])
    born = registered.get("date_of_birth")
    if born is None:
        return int(registered["estimated_age"])
    birth = date.fromisoformat(born)
    return released.year - birth.year - ((released.month, released.day) < (birth.month, birth.day))


def held_consents(profile: dict[str, Any]) -> dict[str, str | None]:
    """The case's statistics and monitoring consents not withdrawn, with their expiry."""
    withdrawn = set(profile.get("withdrawn", []))
    return {c: expiry for c, expiry in profile.get("consents", {}).items() if c not in withdrawn}


def consents_to_statistics(profile: dict[str, Any]) -> bool:
    return bool(held_consents(profile))


def counted_until(profile: dict[str, Any]) -> str | None:
    """The last day (ISO) the case's consents cover, or None while one of them has no expiry
    (or none is held): what is recorded later is not counted."""
    expiries = held_consents(profile).values()
    if not expiries or None in expiries:
        return None
    return max(expiry for expiry in expiries if expiry is not None)


def contributions(
    profile: dict[str, Any], coarsening: Coarsening, programme: Programme
) -> list[Cell]:
    """Every cell one case counts in, from what is known of it now."""
    registered = profile.get("registered")
    if registered is None:
        return []  # its registration not read yet: the other topics may come first
    month, agency = registered["released_on"][:7], registered["agency"]
    if not consents_to_statistics(profile):
        return [("no_consent", month, agency, "cases", "total")]
    sex = registered["sex"]
    until = counted_until(profile)  # a visit due after the consent expired is not counted

    def cell(table: str, row: str, column: str = sex) -> Cell:
        return (table, month, agency, row, column)

    kind = registered["kind"].replace("_", " ")
    cells = [
        cell("releases_by_party", f"{coarsening.party(registered['party'])} ({kind})"),
        cell("releases_by_age", age_band(age_at_release(registered))),
        cell("releases_by_exit", registered["how_left"].replace("_", " ")),
        cell("releases_by_region", coarsening.region(registered["place"])),
    ]
    released = start_of_day(date.fromisoformat(registered["released_on"]))
    if "handed_over_at" in profile:
        hours = max(0.0, (_moment(profile["handed_over_at"]) - released).total_seconds() / 3600)
        cells.append(cell("handover_time", bucket_label(hours, HANDOVER_HOURS, "h")))
        within = hours <= programme.handover_hours
        cells.append(cell("handover_deadline", "met" if within else "missed"))
    if "care_left_on" in profile:
        stay = date.fromisoformat(profile["care_left_on"]) - date.fromisoformat(
            profile["care_entered_on"]
        )
        weeks = stay.days / 7
        cells.append(cell("interim_care_time", bucket_label(weeks, INTERIM_CARE_WEEKS, "wk")))
        within = weeks <= programme.interim_care_weeks
        cells.append(cell("interim_care_deadline", "met" if within else "missed"))
    cells += [cell("outcomes", name.replace("_", " ")) for name in profile.get("outcomes", [])]
    for made in profile.get("referrals", {}).values():
        if "partner" not in made:
            continue  # its answer came before the referral itself
        row = f"{made['partner']} {made['service'].replace('_', ' ')}"
        cells.append(cell("referrals", row, "made"))
        cells += [
            cell("referrals", row, state)
            for state in ("accepted", "declined", "completed")
            if made.get(state)
        ]
        if made.get("answered_at") and made.get("made_at"):
            waited = _moment(made["answered_at"]) - _moment(made["made_at"])
            hours = max(0.0, waited.total_seconds() / 3600)
            cells.append(cell("referral_answer_time", row, bucket_label(hours, ANSWER_HOURS, "h")))
    for visit in profile.get("visits", {}).values():
        if "visited_on" in visit and "due_on" in visit:
            on_time = visit["visited_on"] <= visit["due_on"]
            cells.append(cell("visits", "done on time" if on_time else "done late"))
        elif visit.get("missed"):
            cells.append(cell("visits", "missed, not done since"))
        elif "due_on" in visit and (until is None or visit["due_on"] <= until):
            # Neither done nor missed: overdue once its day has passed, which the report
            # knows (the counts cannot): counted by the month it falls due.
            cells.append(cell("visits_pending", visit["due_on"][:7]))
    return cells


# What a case's consent itself says: read whenever it is recorded.
CONSENT_FACTS = frozenset({intake("ConsentGiven"), intake("ConsentWithdrawn")})


def recorded_after_consent(profile: dict[str, Any], message: CloudEvent) -> bool:
    """Whether ``message`` records a fact after every consent of the case expired: a fact
    not counted (a consent given again counts what is recorded from then on). Read from
    when it was recorded, never from the clock: a rebuild counts what the live projection
    counted, and a report of a past period does not change as consents expire."""
    until = counted_until(profile)
    return (
        until is not None
        and message.type not in CONSENT_FACTS
        and message.time is not None
        and message.time.date().isoformat() > until
    )


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


class StatisticsProjection:
    """The counts, kept from the three event topics (see the module's docstring)."""

    def __init__(
        self,
        database: Database,
        case_keys: CaseKeys,
        coarsening: Coarsening | None = None,
        programme: Programme | None = None,
    ) -> None:
        self.database = database
        self.case_keys = case_keys
        self.coarsening = coarsening or Coarsening()
        self.programme = programme or Programme()
        with database.transaction() as tx:
            tx.execute(CELLS_DDL)
            tx.execute(PROFILES_DDL)

    def apply(self, message: CloudEvent, tx: Transaction) -> None:
        case = message.case_id
        if case is None:
            return
        stored = self._stored(case, tx)
        if stored == ERASED_CASE:
            return  # counted once, for good: nothing about it can change any more
        if message.type == intake("CaseErased"):
            # The counts stay; what they were made from goes (with the key, too).
            self._store(case, ERASED_CASE, tx)
            return
        change = CHANGES.get(message.type)
        if change is None:
            return
        key = self.case_keys.for_opening(case, "statistics")
        if key is None:
            if message.type in REGISTERED:
                month = "" if message.time is None else message.time.strftime("%Y-%m")
                agency = message.data["registering_agency"]
                self._add(tx, Counter([("erased", month, agency, "cases", "total")]), 1)
                self._store(case, ERASED_CASE, tx)
            return
        profile = {} if stored is None else key.open(PROFILE_FIELD, json.loads(stored))
        if recorded_after_consent(profile, message):
            return  # the case counts what was recorded while its consent held, no more
        opened = open_personal_fields(message.data, case, self.case_keys, "statistics")
        change(profile, opened, message)
        # A case may count several times in one cell (its visits): counts of cells, then.
        counted = Counter(tuple(cell) for cell in profile.get("counted", []))
        now = sorted(contributions(profile, self.coarsening, self.programme))
        self._add(tx, counted - Counter(now), -1)
        self._add(tx, Counter(now) - counted, 1)
        profile["counted"] = now
        self._store(case, json.dumps(key.seal(PROFILE_FIELD, profile)), tx)

    @staticmethod
    def _stored(case: UUID, tx: Transaction) -> str | None:
        rows = tx.fetchall(
            "SELECT sealed_profile FROM statistics_case_profiles WHERE case_id = ?", (str(case),)
        )
        return None if not rows else str(rows[0][0])

    @staticmethod
    def _store(case: UUID, profile: str, tx: Transaction) -> None:
        tx.execute(
            "INSERT INTO statistics_case_profiles (case_id, sealed_profile) VALUES (?, ?) "
            "ON CONFLICT (case_id) DO UPDATE SET sealed_profile = excluded.sealed_profile",
            (str(case), profile),
        )

    @staticmethod
    def _add(tx: Transaction, cells: Counter[Any], sign: int) -> None:
        for cell, times in cells.items():
            tx.execute(
                "INSERT INTO statistics_cells "
                "(table_name, month, agency, row_label, column_label, count) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT "
                "(table_name, month, agency, row_label, column_label) "
                "DO UPDATE SET count = statistics_cells.count + excluded.count",
                (*cell, sign * times),
            )

    def subscription(self, topics: Sequence[str] = REPORT_TOPICS) -> Subscription:
        """How intake keeps the projection live: over the three event topics, signed
        messages only (as a replay counts them); an erased case's messages still come, so
        that a registration read after the key was destroyed counts in the ``erased``
        line."""
        return Subscription(
            list(topics),
            self.apply,
            name=STATISTICS_CONSUMER,
            tables=STATISTICS_TABLES,
            erased_cases_in_clear=True,
            signed_only=True,
        )

    def cells(self) -> list[tuple[Cell, int]]:
        return stored_cells(self.database)


def stored_cells(database: Database) -> list[tuple[Cell, int]]:
    """Every non-empty cell the projection keeps in ``database``."""
    with database.transaction() as tx:
        rows = tx.fetchall(
            "SELECT table_name, month, agency, row_label, column_label, count "
            "FROM statistics_cells WHERE count <> 0"
        )
    return [((r[0], r[1], r[2], r[3], r[4]), int(r[5])) for r in rows]
