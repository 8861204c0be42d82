"""A programme report: the statistics projection's cells, for a period and a place, as tables
under disclosure control, with the figures read from them (medians, shares past deadlines).

Every table is about the children released in the period (by month of release), registered
by the agencies in scope (a country is the first part of an agency's code, ``CD`` in
``CD-GOM``). Each table is suppressed on its own (:mod:`.disclosure`); its totals are the same
in every table that shares them, and are spared by the complementary suppression, so that a
total hidden in one table is not shown in another.
"""

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.intake.domain import HowLeft
from services.intake.domain.vocabulary import RETIRED_HOW_LEFT
from services.intake.reports.disclosure import Grid, suppress
from services.intake.reports.projection import (
    ANSWER_HOURS,
    HANDOVER_HOURS,
    INTERIM_CARE_WEEKS,
    OUTCOMES,
    SEXES,
    Cell,
    Coarsening,
    bucket_labels,
)
from shared.access import OWN, PERMISSIONS, Action, Caller, Outcome, decide

DEFAULT_THRESHOLD = 5
LONGEST_PERIOD_MONTHS = 120  # a table has a row per month: ten years of them at most
MONTH = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")
SEX_COLUMNS = tuple(SEXES)
REFERRAL_STATES = ("made", "accepted", "declined", "completed")
VISITS_OVERDUE = "due before this month, not recorded"


@dataclass(frozen=True)
class Scope:
    """Which children a report is about: released from ``first_month`` to ``last_month``
    (``YYYY-MM``, both included), registered in ``country`` or by ``agency`` when given."""

    first_month: str
    last_month: str
    country: str | None = None
    agency: str | None = None

    def __post_init__(self) -> None:
        for month in (self.first_month, self.last_month):
            if not MONTH.match(month):
                raise ValueError(f"a month is written YYYY-MM, not {month!r}")
        if self.first_month > self.last_month:
            raise ValueError("the period ends before it starts")
        first, last = (int(m[:4]) * 12 + int(m[5:]) for m in (self.first_month, self.last_month))
        if last - first >= LONGEST_PERIOD_MONTHS:
            raise ValueError(f"a report covers at most {LONGEST_PERIOD_MONTHS} months")

    def holds(self, month: str, agency: str) -> bool:
        return (
            self.first_month <= month <= self.last_month
            and (self.country is None or agency.split("-")[0] == self.country)
            and (self.agency is None or agency == self.agency)
        )

    def months(self) -> list[str]:
        year, month = map(int, self.first_month.split("-"))
        found = []
        while f"{year:04d}-{month:02d}" <= self.last_month:
            found.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return found


class ReportSettings(BaseSettings):
    """A programme's reporting settings (``HOMEWARD_REPORT_*``)."""

    model_config = SettingsConfigDict(env_prefix="HOMEWARD_REPORT_", extra="ignore")

    threshold: int = Field(
        default=DEFAULT_THRESHOLD,
        ge=2,
        description="The smallest count shown; a report may ask for a higher one, never lower.",
    )
    reference_file: Path | None = Field(
        default=None,
        description="JSON: {'regions': {place: region}, 'parties': {name recorded: listed "
        "name}}; without it every place and party is counted as not on the list.",
    )

    def coarsening(self) -> Coarsening:
        """The reference lists the statistics projection counts by (read when it is built:
        after a change, rebuild it)."""
        if self.reference_file is None:
            return Coarsening()
        return Coarsening.from_file(str(self.reference_file))


class ReportRefused(PermissionError):
    """The caller may not read this report."""

    def __init__(self, outcome: Outcome, reason: str) -> None:
        super().__init__(reason)
        self.outcome = outcome


def scope_for(caller: Caller, scope: Scope) -> Scope:
    """The scope the caller may read: a supervisor's is its own agency (another agency's
    report is *not found*, as the access policy answers), an auditor's any agency's."""
    if PERMISSIONS[caller.role].get(Action.READ_REPORTS) is OWN and scope.agency is None:
        scope = replace(scope, agency=caller.agency)
    decision = decide(caller, Action.READ_REPORTS, scope.agency)
    if not decision.allowed:
        raise ReportRefused(decision.outcome, decision.reason)
    return scope


@dataclass(frozen=True)
class TableSpec:
    key: str
    title: str
    counted: str  # what a count counts: children, referrals, visits
    columns: tuple[str, ...] = SEX_COLUMNS
    rows: tuple[str, ...] = ()  # shown whether counted or not, in this order; others after
    row_totals: bool = True
    column_totals: bool = True


HOW_LEFT_ROWS = tuple(how.value.replace("_", " ") for how in HowLeft if how not in RETIRED_HOW_LEFT)
SPECS = (
    TableSpec("releases_by_party", "Releases by armed force or group (and kind)", "children"),
    TableSpec(
        "releases_by_age",
        "Releases by age at release",
        "children",
        rows=("under-10", "10-14", "15-17", "18-plus"),
    ),
    TableSpec("releases_by_exit", "Releases by how the child left", "children", rows=HOW_LEFT_ROWS),
    TableSpec("releases_by_region", "Releases by region", "children"),
    TableSpec(
        "handover_time",
        "Time from release to handover",
        "children",
        rows=tuple(bucket_labels(HANDOVER_HOURS, "h")),
    ),
    TableSpec(
        "interim_care_time",
        "Time in interim care (stays ended)",
        "children",
        rows=tuple(bucket_labels(INTERIM_CARE_WEEKS, "wk")),
    ),
    # Met and missed add up to the children of the duration's table, by sex: a table each,
    # with the same totals, so that a hidden count here does not follow from those there.
    TableSpec(
        "handover_deadline",
        "Handover within the programme's limit (48 h unless set)",
        "children",
        rows=("met", "missed"),
    ),
    TableSpec(
        "interim_care_deadline",
        "Interim care within the programme's limit (12 weeks unless set)",
        "children",
        rows=("met", "missed"),
    ),
    TableSpec(
        "outcomes",
        "Outcomes (a child may count in several rows)",
        "children",
        rows=tuple(outcome.replace("_", " ") for outcome in OUTCOMES),
        column_totals=False,
    ),
    TableSpec(
        "referrals",
        "Referrals by partner and service",
        "referrals",
        columns=REFERRAL_STATES,
        row_totals=False,
    ),
    TableSpec(
        "visits",
        "Follow-up visits",
        "visits",
        rows=("done on time", "done late", "missed, not done since", VISITS_OVERDUE),
    ),
)


@dataclass
class Table:
    spec: TableSpec
    grid: Grid

    def header(self) -> list[str]:
        return ["", *self.spec.columns, *(["total"] if self.spec.row_totals else [])]

    def lines(self, threshold: int) -> list[list[str]]:
        """Each row as published: its label, then each cell's label (``<5``, ``x``)."""
        labels = [*self.grid.rows, *(["total"] if self.spec.column_totals else [])]
        return [
            [label, *(self.grid.label(r, c, threshold) for c in range(self.grid.width))]
            for r, label in enumerate(labels)
        ]

    def published(self, threshold: int) -> list[dict[str, object]]:
        """The rows for JSON: a number where it is shown, its label where it is hidden."""
        return [
            {
                "row": line[0],
                "cells": dict(
                    zip(self.header()[1:], [as_published(cell) for cell in line[1:]], strict=True)
                ),
            }
            for line in self.lines(threshold)
        ]


def as_published(label: str) -> int | str:
    """A cell's label as JSON gives it: a number where it is shown, ``<5`` or ``x`` if not."""
    return int(label) if label.isdigit() else label


@dataclass(frozen=True)
class Figure:
    """A figure read from a table: what, and its value as published."""

    label: str
    value: str


@dataclass
class Report:
    scope: Scope
    threshold: int
    made_at: datetime
    tables: list[Table]
    by_month: Table
    figures: list[Figure] = field(default_factory=list)
    answer_times: list[list[str]] = field(default_factory=list)
    # The children outside the tables, as counted (shown only as figures, thresholded).
    set_aside: dict[str, int] = field(default_factory=dict)

    def table(self, key: str) -> Table:
        return next(table for table in self.tables if table.spec.key == key)


def build_report(
    cells: Iterable[tuple[Cell, int]], scope: Scope, threshold: int, made_at: datetime
) -> Report:
    """The report of ``scope`` from the projection's cells."""
    if threshold < 2:
        raise ValueError("a threshold under 2 would show single children")
    counts: dict[str, dict[tuple[str, str], int]] = defaultdict(lambda: defaultdict(int))
    monthly: dict[tuple[str, str], int] = defaultdict(int)
    for (table, month, agency, row, column), count in cells:
        if scope.holds(month, agency):
            counts[table][(row, column)] += count
            if table == "releases_by_age":
                monthly[(month, column)] += count
    this_month = made_at.strftime("%Y-%m")
    for (due_month, sex), count in counts["visits_pending"].items():
        if due_month < this_month:
            counts["visits"][(VISITS_OVERDUE, sex)] += count
    tables = [_table(spec, counts[spec.key], threshold) for spec in SPECS]
    month_spec = TableSpec("releases_by_month", "Releases by month", "children", rows=())
    by_month = Table(
        month_spec,
        suppress(
            Grid(
                scope.months(),
                list(SEX_COLUMNS),
                [[monthly[(month, sex)] for sex in SEX_COLUMNS] for month in scope.months()],
            ),
            threshold,
        ),
    )
    report = Report(scope, threshold, made_at, tables, by_month)
    report.set_aside = {line: sum(counts[line].values()) for line in ("no_consent", "erased")}
    report.figures = _figures(report, counts, threshold)
    report.answer_times = _answer_times(counts["referral_answer_time"], threshold)
    return report


def _table(spec: TableSpec, counts: dict[tuple[str, str], int], threshold: int) -> Table:
    present = sorted({row for row, _column in counts} - set(spec.rows))
    rows = [*spec.rows, *present]
    inner = [[counts.get((row, column), 0) for column in spec.columns] for row in rows]
    grid = Grid(rows, list(spec.columns), inner, spec.row_totals, spec.column_totals)
    return Table(spec, suppress(grid, threshold))


def quantile_bucket(histogram: list[tuple[str, int]], share: float) -> str | None:
    """The bucket the ``share`` quantile falls in (0.5: the median), from counts by bucket."""
    total = sum(count for _label, count in histogram)
    if total == 0:
        return None
    running = 0
    for label, count in histogram:
        running += count
        if running >= share * total:
            return label
    return histogram[-1][0]


def _shown_count(count: int, threshold: int) -> str:
    return f"<{threshold}" if 0 < count < threshold else str(count)


def _figures(
    report: Report, counts: dict[str, dict[tuple[str, str], int]], threshold: int
) -> list[Figure]:
    def total(table: str, rows: Iterable[str] | None = None) -> int:
        return sum(
            count for (row, _c), count in counts[table].items() if rows is None or row in rows
        )

    ages = report.table("releases_by_age").grid
    figures = [
        # As the tables show it: hidden there, hidden here.
        Figure(
            "children counted (consent to statistics or monitoring)",
            ages.label(ages.height - 1, ages.width - 1, threshold),
        ),
        Figure("no consent for statistics", _shown_count(total("no_consent"), threshold)),
        Figure(
            "erased (not broken down: their key is gone)", _shown_count(total("erased"), threshold)
        ),
    ]
    for key, unit in (("handover", "handover"), ("interim_care", "interim care")):
        histogram = [
            (row, total(f"{key}_time", [row])) for row in report.table(f"{key}_time").grid.rows
        ]
        measured = sum(count for _row, count in histogram)
        if measured < threshold:
            figures.append(Figure(f"{unit}: median, 90th percentile", f"fewer than {threshold}"))
            continue
        median, p90 = quantile_bucket(histogram, 0.5), quantile_bucket(histogram, 0.9)
        figures.append(Figure(f"{unit}: median", str(median)))
        figures.append(Figure(f"{unit}: 90th percentile", str(p90)))
        figures.append(Figure(f"{unit}: share past the deadline", _share_missed(report, key)))
    return figures


def _share_missed(report: Report, key: str) -> str:
    """Missed of met and missed, from the deadline table's row totals as it shows them: a
    share of hidden counts would give them away."""
    grid = report.table(f"{key}_deadline").grid
    last = grid.width - 1
    if grid.hidden(0, last) or grid.hidden(1, last):
        return "hidden (a count under the threshold)"
    met, missed = grid.values[0][last], grid.values[1][last]
    return f"{100 * missed / (met + missed):.0f}%" if met + missed else "none"


def _answer_times(counts: dict[tuple[str, str], int], threshold: int) -> list[list[str]]:
    """Per partner and service: the median and 90th percentile bucket of the time to answer
    (none from fewer answers than the threshold)."""
    buckets = bucket_labels(ANSWER_HOURS, "h")
    lines = []
    for row in sorted({row for row, _bucket in counts}):
        histogram = [(bucket, counts.get((row, bucket), 0)) for bucket in buckets]
        # The number answered is not shown: beside the referrals table (accepted, declined)
        # it would give a hidden cell away.
        if sum(count for _b, count in histogram) < threshold:
            lines.append([row, f"fewer than {threshold} answers", ""])
            continue
        median, p90 = quantile_bucket(histogram, 0.5), quantile_bucket(histogram, 0.9)
        lines.append([row, str(median), str(p90)])
    return lines
