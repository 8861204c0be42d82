"""The intake service's read models, kept by consuming its own topic ``homeward.intake.events``.

The topic carries every field sealed but the allow-listed ones; the consumer opens them with
the case's key as it reads. One row per case keeps what the case list, the overdue list and
the statistics by stage need (stage, route, agency, caseworker id, sex, age band, risk level,
flags, the dates deadlines are derived from) and the child's name sealed again with the case's
key, opened only when someone asks, with a keyed blind index of its words to search by
(:mod:`services.intake.nameindex`). On ``CaseErased`` the row goes, index and all. Deadlines
are computed at query time from the dates, the programme's limits and the injected clock.

Because the rows come from the topic alone, they can be rebuilt by replaying it
(``homeward rebuild intake``, :mod:`shared.rebuild`).
"""

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, TypeVar
from uuid import UUID

from services.intake.domain import RiskLevel, Stage, age_band
from services.intake.domain.vocabulary import NOT_INTERIM_CARE
from services.intake.nameindex import INDEX_PURPOSE, NameIndex
from services.intake.programme import Deadline, DeadlineDates, DeadlineStatus, Programme
from shared.crypto import ERASED, SealError
from shared.database import Database, Transaction
from shared.envelope import CloudEvent, event_type, event_types
from shared.keyring import CaseKeys
from shared.persistence import Clock

log = logging.getLogger("homeward.intake.projections")
T = TypeVar("T")

PROJECTIONS_CONSUMER = "homeward.intake.projections"
UNREADABLE = "[unreadable]"  # a case whose key this keyring never held

CASE_LIST_DDL = """CREATE TABLE IF NOT EXISTS intake_case_list (
    case_id TEXT PRIMARY KEY,
    case_number TEXT NOT NULL,
    registering_agency TEXT NOT NULL,
    caseworker TEXT NOT NULL,
    sex TEXT,
    age_band TEXT,
    stage TEXT NOT NULL,
    route TEXT,
    risk_level TEXT,
    flags TEXT,
    released_on TEXT,
    handed_over_at TEXT,
    care_entered_on TEXT,
    care_extended_until TEXT,
    risk_set_at TEXT,
    risk_responded_at TEXT,
    plan_reviewed_on TEXT,
    registered_at TEXT NOT NULL,
    version INTEGER NOT NULL,
    sealed_name TEXT,
    erased INTEGER NOT NULL DEFAULT 0,
    overdue_from TEXT,
    name_index TEXT
)"""

# Columns a list made by an earlier version may lack (all TEXT, nullable).
ADDED_COLUMNS = ("overdue_from", "plan_reviewed_on", "name_index")

COLUMNS = (
    "case_id",
    "case_number",
    "registering_agency",
    "caseworker",
    "sex",
    "age_band",
    "stage",
    "route",
    "risk_level",
    "flags",
    "released_on",
    "handed_over_at",
    "care_entered_on",
    "care_extended_until",
    "risk_set_at",
    "risk_responded_at",
    "plan_reviewed_on",
    "registered_at",
    "version",
    "sealed_name",
    "erased",
    "overdue_from",
    "name_index",
)


def intake_type(name: str) -> str:
    return event_type("intake", name, 1)


# What the list reads of a registration is in both versions.
REGISTERED = event_types("intake", "ChildRegistered", 1, 2)
# The moment of a handover is in both versions.
HANDED_OVER = event_types("intake", "HandedOver", 1, 2)


def _moment(value: str | None) -> str | None:
    """ISO 8601 in UTC, so that stored moments compare and sort alike in every database."""
    if value is None:
        return None
    return datetime.fromisoformat(value).astimezone(UTC).isoformat()


def _instant(moment: datetime) -> str:
    """A fixed-width UTC text, so that instants compare as strings in any database."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _parsed(value: str | None, parse: Callable[[str], T]) -> T | None:
    return None if value is None else parse(value)


# What each published event changes in a case's row, besides its stage and version.
ROW_CHANGES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    **dict.fromkeys(HANDED_OVER, lambda d: {"handed_over_at": _moment(d["handed_over_at"])}),
    intake_type("AgeAssessed"): lambda d: {"route": d["route"]},
    intake_type("InterimCarePlaced"): lambda d: {
        # A direct return an earlier version recorded as a placement starts no clock.
        "care_entered_on": None if d["kind"] in NOT_INTERIM_CARE else d["entered_on"],
        "care_extended_until": None,
    },
    intake_type("InterimCareExtended"): lambda d: {"care_extended_until": d["until"]},
    intake_type("InterimCareEnded"): lambda _d: {
        "care_entered_on": None,
        "care_extended_until": None,
    },
    intake_type("NeedsAssessed"): lambda d: {"flags": json.dumps(d["flags"])},
    intake_type("RiskLevelSet"): lambda d: {
        "risk_level": d["level"],
        "risk_set_at": _moment(d["set_at"]),
        "risk_responded_at": None,
    },
    intake_type("RiskResponded"): lambda d: {"risk_responded_at": _moment(d["responded_at"])},
    intake_type("CaseAssigned"): lambda d: {"caseworker": d["caseworker"]},
    intake_type("CasePlanAgreed"): lambda d: {"plan_reviewed_on": d["agreed_on"]},
    intake_type("CasePlanReviewed"): lambda d: {"plan_reviewed_on": d["reviewed_on"]},
    intake_type("FieldCorrected"): lambda d: LISTED_CORRECTIONS.get(d["field"], _nothing)(
        d["value"]
    ),
}


def _nothing(_value: Any) -> dict[str, Any]:
    return {}


# The corrections the list shows (a corrected name is sealed again: see ``apply``).
LISTED_CORRECTIONS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "sex": lambda value: {"sex": value},
    "estimated_age": lambda value: {"age_band": age_band(value)},
}


@dataclass(frozen=True)
class CaseRow:
    """One case as the list shows it; ``name`` is opened (or ``[erased]``)."""

    case_id: str
    case_number: str
    name: str
    registering_agency: str
    caseworker: str
    sex: str | None
    age_band: str | None
    stage: str
    route: str | None
    risk_level: str | None
    flags: list[str]
    released_on: date | None
    version: int
    erased: bool
    deadlines: list[Deadline] = field(default_factory=list)

    def overdue(self, now: datetime) -> list[Deadline]:
        return [d for d in self.deadlines if d.status(now) == DeadlineStatus.OVERDUE]


@dataclass(frozen=True)
class CaseFilter:
    stage: Stage | None = None
    risk: RiskLevel | None = None
    agency: str | None = None
    caseworker: str | None = None
    overdue: bool | None = None
    case_number: str | None = None
    # The keyed hashes of the words of a name (services.intake.nameindex): rows holding all.
    name_hashes: tuple[str, ...] = ()
    # The one agency the caller may see, whatever the ``agency`` asked for; None: all.
    visible_agency: str | None = None

    def where(self) -> tuple[str, list[Any]]:
        clauses, params = [], []
        for column, value in (
            ("stage", self.stage),
            ("risk_level", self.risk),
            ("registering_agency", self.agency),
            ("registering_agency", self.visible_agency),
            ("caseworker", self.caseworker),
            ("case_number", self.case_number),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(str(value))
        for word in self.name_hashes:
            clauses.append("name_index LIKE ?")
            params.append(f"% {word} %")
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


@dataclass(frozen=True)
class Page:
    items: list[CaseRow]
    total: int
    limit: int
    offset: int


class CaseProjections:
    """The case list (and from it the overdue list and the statistics by stage)."""

    def __init__(
        self, database: Database, case_keys: CaseKeys, programme: Programme, clock: Clock
    ) -> None:
        self.database = database
        self.case_keys = case_keys
        self.programme = programme
        self.clock = clock
        self.names = NameIndex(case_keys.keyring.index_key(INDEX_PURPOSE))
        with database.transaction() as tx:
            tx.execute(CASE_LIST_DDL)
        self._add_missing_columns()

    def _add_missing_columns(self) -> None:
        """A list kept by an older version gets the columns added since, and each row's
        ``overdue_from`` computed again from them."""
        missing = []
        for column in ADDED_COLUMNS:
            try:
                with self.database.transaction() as tx:
                    tx.fetchall(f"SELECT {column} FROM intake_case_list WHERE 1 = 0")
            except Exception:  # SQLite and psycopg name a missing column differently
                missing.append(column)
        if not missing:
            return
        log.info("adding %s to the case list", ", ".join(missing))
        with self.database.transaction() as tx:
            for column in missing:
                tx.execute(f"ALTER TABLE intake_case_list ADD COLUMN {column} TEXT")
            for (case_id,) in tx.fetchall("SELECT case_id FROM intake_case_list"):
                self._note_overdue_from(case_id, tx)

    # --- keeping the rows ----------------------------------------------------------------

    def apply(self, message: CloudEvent, tx: Transaction) -> None:
        """Apply one message of ``homeward.intake.events`` (the inbox makes it happen once;
        the version check keeps a row from going back if a case's message came again: every
        intake message is about the case itself, so its sequence is the case's version)."""
        case = message.case_id
        if case is None or message.sequence is None:
            return
        case_id, version = str(case), int(message.sequence)
        if message.type == intake_type("CaseErased"):
            # Read models are not the record: an erased case leaves the list, live and after
            # a rebuild alike (a rebuild never sees its other messages opened).
            tx.execute("DELETE FROM intake_case_list WHERE case_id = ?", (case_id,))
            return
        if message.type in REGISTERED:
            self._insert(message, case, version, tx)
            self._note_overdue_from(case_id, tx)
            return
        changes: dict[str, Any] = {"version": version}
        if "stage" in message.data:
            changes["stage"] = message.data["stage"]
        change = ROW_CHANGES.get(message.type)
        if change is not None:
            changes.update(change(message.data))
        if message.type == intake_type("FieldCorrected") and message.data["field"] == "name":
            key = self.case_keys.for_opening(case, "case list")
            if key is not None:
                changes["sealed_name"] = json.dumps(key.seal("name", message.data["value"]))
                changes["name_index"] = self.names.column(message.data["value"])
        assignments = ", ".join(f"{column} = ?" for column in changes)
        tx.execute(
            f"UPDATE intake_case_list SET {assignments} WHERE case_id = ? AND version < ?",
            [*changes.values(), case_id, version],
        )
        if message.type in HANDED_OVER:
            # HandedOver carries no stage: it moves only a case that was just registered.
            tx.execute(
                "UPDATE intake_case_list SET stage = ? WHERE case_id = ? AND stage = ?",
                (Stage.HANDED_OVER.value, case_id, Stage.REGISTERED.value),
            )
        self._note_overdue_from(case_id, tx)

    def _note_overdue_from(self, case_id: str, tx: Transaction) -> None:
        """Keep, in clear, when the case's earliest unmet deadline falls (ISO, UTC), so that
        "overdue now" is a comparison in SQL: the list never loads or opens the other rows."""
        rows = tx.fetchall(
            f"SELECT {', '.join(COLUMNS)} FROM intake_case_list WHERE case_id = ?", (case_id,)
        )
        if rows:
            tx.execute(
                "UPDATE intake_case_list SET overdue_from = ? WHERE case_id = ?",
                (self._overdue_from(dict(zip(COLUMNS, rows[0], strict=True))), case_id),
            )

    def _overdue_from(self, values: dict[str, Any]) -> str | None:
        if values["stage"] == Stage.CLOSED or values["erased"]:
            return None  # no deadlines left to meet
        unmet = [d.due_at for d in self._deadlines(values) if d.met_at is None]
        return _instant(min(unmet)) if unmet else None

    def _insert(self, message: CloudEvent, case_id: UUID, version: int, tx: Transaction) -> None:
        data = message.data
        key = self.case_keys.for_opening(case_id, "case list")
        row = {
            "case_id": str(case_id),
            "case_number": data["case_number"],
            "registering_agency": data["registering_agency"],
            "caseworker": data["caseworker"],
            "sex": data["sex"],
            "age_band": age_band(data["estimated_age"]),
            "stage": Stage.REGISTERED.value,
            "route": "child_protection",
            "risk_level": None,
            "flags": "[]",
            "released_on": data["released_on"],
            "handed_over_at": None,
            "care_entered_on": None,
            "care_extended_until": None,
            "risk_set_at": None,
            "risk_responded_at": None,
            "plan_reviewed_on": None,
            "registered_at": (message.time or self.clock()).astimezone(UTC).isoformat(),
            "version": version,
            "sealed_name": None if key is None else json.dumps(key.seal("name", data["name"])),
            "erased": 0,
            "overdue_from": None,
            "name_index": None if key is None else self.names.column(data["name"]),
        }
        tx.execute(
            f"INSERT INTO intake_case_list ({', '.join(COLUMNS)}) "
            f"VALUES ({', '.join('?' for _ in COLUMNS)}) ON CONFLICT (case_id) DO NOTHING",
            [row[column] for column in COLUMNS],
        )

    def reset(self, consumer: str) -> None:
        """Forget every row and every message the projection consumer saw: a replay of the
        topic then builds the rows again."""
        with self.database.transaction() as tx:
            tx.execute("DROP TABLE IF EXISTS intake_case_list")
            tx.execute(CASE_LIST_DDL)
            tx.execute("DELETE FROM homeward_inbox WHERE consumer = ?", (consumer,))

    # --- answering -----------------------------------------------------------------------

    def cases(self, where: CaseFilter, limit: int, offset: int) -> Page:
        """A page of cases, newest registration first."""
        sql, params = where.where()
        if where.overdue is not None:
            now = _instant(self.clock())
            overdue = "overdue_from IS NOT NULL AND overdue_from < ?"
            clause = overdue if where.overdue else f"NOT ({overdue})"
            sql = f"{sql} AND {clause}" if sql else f" WHERE {clause}"
            params = [*params, now]
        order = " ORDER BY registered_at DESC, case_id"
        with self.database.transaction() as tx:
            total = tx.fetchall(f"SELECT COUNT(*) FROM intake_case_list{sql}", params)[0][0]
            rows = tx.fetchall(
                f"SELECT {', '.join(COLUMNS)} FROM intake_case_list{sql}{order} LIMIT ? OFFSET ?",
                [*params, limit, offset],
            )
        return Page([self._row(r) for r in rows], int(total), limit, offset)

    def overdue(
        self, agency: str | None = None, visible_agency: str | None = None
    ) -> list[tuple[CaseRow, Deadline]]:
        """Every overdue deadline of an open case, the longest overdue first."""
        now = self.clock()
        where = CaseFilter(agency=agency, overdue=True, visible_agency=visible_agency)
        page = self.cases(where, limit=10**9, offset=0)
        found = [(case, deadline) for case in page.items for deadline in case.overdue(now)]
        return sorted(found, key=lambda pair: pair[1].due_at)

    def stage_counts(
        self, agency: str | None = None, visible_agency: str | None = None
    ) -> dict[str, int]:
        sql, params = CaseFilter(agency=agency, visible_agency=visible_agency).where()
        with self.database.transaction() as tx:
            rows = tx.fetchall(
                f"SELECT stage, COUNT(*) FROM intake_case_list{sql} GROUP BY stage", params
            )
        counts = {stage.value: 0 for stage in Stage}
        counts.update({stage: int(count) for stage, count in rows})
        return counts

    def _row(self, row: tuple[Any, ...]) -> CaseRow:
        values = dict(zip(COLUMNS, row, strict=True))
        case = CaseRow(
            case_id=values["case_id"],
            case_number=values["case_number"],
            name=self._open_name(values["case_id"], values["sealed_name"], values["erased"]),
            registering_agency=values["registering_agency"],
            caseworker=values["caseworker"],
            sex=values["sex"],
            age_band=values["age_band"],
            stage=values["stage"],
            route=values["route"],
            risk_level=values["risk_level"],
            flags=json.loads(values["flags"] or "[]"),
            released_on=_parsed(values["released_on"], date.fromisoformat),
            version=int(values["version"]),
            erased=bool(values["erased"]),
        )
        if case.stage != Stage.CLOSED and not case.erased:  # no deadlines left to meet
            case.deadlines.extend(self._deadlines(values))
        return case

    def _deadlines(self, values: dict[str, Any]) -> list[Deadline]:
        risk_level = values["risk_level"]
        return self.programme.deadlines(
            DeadlineDates(
                released_on=date.fromisoformat(values["released_on"]),
                handed_over_at=_parsed(values["handed_over_at"], datetime.fromisoformat),
                care_entered_on=_parsed(values["care_entered_on"], date.fromisoformat),
                care_extended_until=_parsed(values["care_extended_until"], date.fromisoformat),
                risk_level=None if risk_level is None else RiskLevel(risk_level),
                risk_set_at=_parsed(values["risk_set_at"], datetime.fromisoformat),
                risk_responded_at=_parsed(values["risk_responded_at"], datetime.fromisoformat),
                plan_reviewed_on=_parsed(values["plan_reviewed_on"], date.fromisoformat),
            )
        )

    def _open_name(self, case_id: str, sealed: str | None, erased: int) -> str:
        if erased or sealed is None:
            return ERASED
        try:
            key = self.case_keys.for_opening(UUID(case_id), "case list")
            if key is None:
                return ERASED
            return str(key.open("name", json.loads(sealed)))
        except (KeyError, SealError):
            log.warning("case %s: its name cannot be opened with this keyring", case_id)
            return UNREADABLE
