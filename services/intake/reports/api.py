"""``GET /reports``: a programme report for supervisors (their agency) and auditors (any),
made from the statistics projection intake keeps live from the three event topics (the
tables ``homeward report`` reads too)."""

from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status

from services.intake.api import Intake
from services.intake.reports.render import as_csv, as_html, as_json
from services.intake.reports.tables import (
    MONTH,
    SPECS,
    ReportRefused,
    ReportSettings,
    Scope,
    build_report,
    scope_for,
)
from shared.access import Action, Caller, Outcome
from shared.api import AgencyFilter
from shared.auth import requires


class ReportFormat(StrEnum):
    HTML = "html"
    JSON = "json"
    CSV = "csv"


TableKey = StrEnum("TableKey", {spec.key: spec.key for spec in SPECS})  # type: ignore[misc]
MEDIA_TYPES = {"html": "text/html", "json": "application/json", "csv": "text/csv"}

reports = APIRouter(prefix="/reports", tags=["reports"])


@reports.get(
    "",
    summary="A programme report: releases, durations, outcomes, referrals and follow-up "
    "visits of the children released in a period, under disclosure control",
)
def programme_report(
    intake: Intake,
    caller: Annotated[Caller, Depends(requires(Action.READ_REPORTS))],
    first_month: Annotated[
        str, Query(alias="from", max_length=7, pattern=MONTH.pattern, description="YYYY-MM")
    ],
    last_month: Annotated[
        str, Query(alias="to", max_length=7, pattern=MONTH.pattern, description="YYYY-MM")
    ],
    country: Annotated[
        str | None, Query(max_length=2, pattern="^[A-Z]{2}$", description="CD: CD-* agencies")
    ] = None,
    agency: AgencyFilter = None,
    threshold: Annotated[int | None, Query(ge=2, le=1000)] = None,
    format: ReportFormat = ReportFormat.JSON,
    table: Annotated[TableKey | None, Query(description="The table of a CSV answer.")] = None,
) -> Response:
    settings = ReportSettings()
    smallest = threshold or settings.threshold
    if smallest < settings.threshold:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"the programme shows no count under {settings.threshold}",
        )
    if format == ReportFormat.CSV and table is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "a CSV answer is one table")
    try:
        scope = scope_for(caller, Scope(first_month, last_month, country, agency))
    except ValueError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None
    except ReportRefused as refused:
        code = status.HTTP_404_NOT_FOUND if refused.outcome is Outcome.NOT_FOUND else 403
        raise HTTPException(code, str(refused)) from None
    if intake.statistics is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "No statistics are kept here.")
    report = build_report(intake.statistics.cells(), scope, smallest, intake.clock())
    if format == ReportFormat.HTML:
        text = as_html(report)
    elif format == ReportFormat.CSV:
        text = as_csv(report.table(str(table)), report.threshold)
    else:
        text = as_json(report)
    return Response(text, media_type=MEDIA_TYPES[format])
