"""What auditors ask of the access log: who opened a case, what a user opened, which
break-glass opens await review. The log is every service's, kept from
``homeward.audit.access``."""

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request

from shared.access import Action
from shared.accesslog import AccessLogView, Outcome
from shared.api import PageLimit, PageOffset
from shared.auth import requires


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
