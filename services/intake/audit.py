"""What auditors ask of the access log: who opened a case, what a user opened, which
break-glass opens await review. The log is every service's, kept from
``homeward.audit.access``."""

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from kafka.errors import KafkaError

from services.intake.api import Intake
from services.intake.caseaudit import (
    MEDIA_TYPES,
    REPORT_LANGUAGE,
    Cut,
    ReportFormat,
    ReportLanguage,
    account_of_case,
    rendered,
)
from shared.access import Action, Caller
from shared.accesslog import AccessLogView, Outcome
from shared.api import PageLimit, PageOffset
from shared.auth import record_access, requires


def access_log_view(request: Request) -> AccessLogView:
    view: AccessLogView | None = request.app.state.runtime.access_view
    assert view is not None, "the service that serves the audit routes keeps the log"
    return view


audit = APIRouter(prefix="/audit", tags=["audit"])


@audit.get(
    "/access",
    summary="Who opened what: the access log, newest first",
    dependencies=[Depends(requires(Action.READ_HISTORY))],
)
def list_accesses(
    view: Annotated[AccessLogView, Depends(access_log_view)],
    case_id: Annotated[UUID | None, Query(description="Who opened this case.")] = None,
    accessed_by: Annotated[
        str | None, Query(max_length=200, description="What this user (token `sub`) opened.")
    ] = None,
    outcome: Annotated[
        Outcome | None, Query(description="`break_glass`: the opens that await review.")
    ] = None,
    limit: PageLimit = 100,
    offset: PageOffset = 0,
) -> list[dict[str, Any]]:
    return view.accesses(
        case_id=case_id, accessed_by=accessed_by, outcome=outcome, limit=limit, offset=offset
    )


@audit.get(
    "/cases/{case_id}",
    summary="A case's whole history across the services and the access log, in causal order; "
    "with as_of or at_sequence, and the case as it was then",
)
def audit_case(
    case_id: UUID,
    request: Request,
    intake: Intake,
    caller: Annotated[Caller, Depends(requires(Action.READ_HISTORY))],
    as_of: Annotated[datetime | None, Query(description="Stop at this moment.")] = None,
    at_sequence: Annotated[
        int | None,
        Query(ge=1, le=1_000_000, description="Stop at the case's version N."),
    ] = None,
    format: ReportFormat = ReportFormat.JSONL,
    lang: Annotated[
        ReportLanguage, Query(description="The language of the HTML report's headings.")
    ] = REPORT_LANGUAGE,
) -> Response:
    # The auditor's own reading is on the log too, whatever the token lets them see.
    record_access(request, Action.READ_HISTORY, Outcome.ALLOWED, "case audit", caller, case_id)
    runtime = request.app.state.runtime
    try:
        cut = Cut(as_of, at_sequence).for_format(format, intake.clock())
        account = account_of_case(
            runtime.case_reader,
            intake.case_keys,
            intake.programme,
            case_id,
            caller,
            cut,
            runtime.case_index,
        )
    except KafkaError:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "The case's history on Kafka cannot be read now."
        ) from None
    return Response(rendered([account], format, lang.value), media_type=MEDIA_TYPES[format])
