"""What every route declares: the action it needs, or that it is public.

A route declares ``Depends(requires(Action.READ_CASE))`` (the caller is its value) or
``Depends(public())``; :func:`route_requirements` lists what each route of an app declares, so
that a test can fail for any route that declares nothing. ``requires`` answers 401 for a
missing or untrustworthy token and 403 for an action the caller's role does not hold; whether
the resource is within the caller's scope is known only once it is loaded, and is answered by
``enforce(decide(caller, action, resource_agency))``: 404 out of scope, 403 within, or, with
the access log, by :func:`authorize`.

Every denial (401, 403, and the 404 of a resource out of scope) and every read of a child's
personal data is recorded in the service's access log (``app.state.runtime.access_log``) here,
in one place, so that no route can forget it. A supervisor may open another agency's case with
the ``X-Break-Glass-Reason`` header: allowed, and recorded as break-glass with the reason.

The app holds its verifier as ``app.state.token_verifier`` (a :class:`TokenVerifier`); an app
without one refuses every request that needs a caller.
"""

import logging
import re
from typing import Annotated, Final
from uuid import UUID

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.routing import Route

from shared.access import (
    ANY,
    PERMISSIONS,
    Action,
    Caller,
    Decision,
    Outcome,
    decide,
    permission,
)
from shared.accesslog import Access, AccessLog
from shared.accesslog import Outcome as AccessOutcome
from shared.tokens import InvalidToken, KeysUnavailable, TokenVerifier

log = logging.getLogger("homeward.auth")

PUBLIC: Final = "public"
REALM: Final = "homeward"
BREAK_GLASS_HEADER: Final = "X-Break-Glass-Reason"
# Long enough that a reviewer can judge it later; "urgent" is not a reason.
BREAK_GLASS_MIN_REASON: Final = 20

_bearer = HTTPBearer(
    auto_error=False,
    description="A token from the organisation's identity provider (locally: `homeward token`).",
)


def _unauthorized(reason: str, *, token_given: bool) -> HTTPException:
    challenge = f'Bearer realm="{REALM}"'
    if token_given:
        # RFC 6750 allows neither quotes nor backslashes inside error_description.
        description = re.sub(r'[^\x20-\x7e]|["\\]', "?", reason)
        challenge += f', error="invalid_token", error_description="{description}"'
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=reason, headers={"WWW-Authenticate": challenge}
    )


def current_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """The caller the request's bearer token names; 401 without a trustworthy one."""
    if credentials is None:
        # RFC 6750 §3.1: a request that tried no token gets the challenge without an error.
        raise _unauthorized("no bearer token: sign in first", token_given=False)
    verifier: TokenVerifier | None = getattr(request.app.state, "token_verifier", None)
    if verifier is None:
        raise RuntimeError("this app has no token verifier (app.state.token_verifier)")
    try:
        return verifier.verify(credentials.credentials)
    except InvalidToken as refusal:
        log.info("bearer token refused: %s", refusal)
        raise _unauthorized(str(refusal), token_given=True) from None
    except KeysUnavailable as error:
        log.error("cannot verify bearer tokens: %s", error)
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "The identity provider's keys cannot be had now; try again shortly.",
        ) from None


def enforce(decision: Decision, *, not_found: str = "Not found.") -> None:
    """Raise the HTTP answer for a refusal. ``not_found`` must be what the route answers for a
    resource that does not exist, so that the two cannot be told apart."""
    if decision.outcome is Outcome.NOT_FOUND:
        raise HTTPException(status.HTTP_404_NOT_FOUND, not_found)
    if decision.outcome is Outcome.FORBIDDEN:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"Forbidden: {decision.reason}.")


def _access_log(request: Request) -> AccessLog | None:
    runtime = getattr(request.app.state, "runtime", None)
    return None if runtime is None else runtime.access_log


def route_of(request: Request) -> str:
    """The route's template (``GET /cases/{case_id}``), never the ids it was called with."""
    route = request.scope.get("route")
    return f"{request.method} {getattr(route, 'path', request.url.path)}"


def record_access(
    request: Request,
    action: Action,
    outcome: AccessOutcome,
    purpose: str,
    caller: Caller | None,
    case_id: UUID | None = None,
    break_glass_reason: str | None = None,
) -> None:
    """Record one access; returns once it is committed. An app without a runtime (a test's
    own small app) has no log to record in."""
    access_log = _access_log(request)
    if access_log is None:
        return
    access_log.record(
        Access(
            action=str(action),
            outcome=outcome,
            route=route_of(request),
            purpose=purpose,
            caller=caller,
            case_id=case_id,
            client_address=request.client.host if request.client else None,
            break_glass_reason=break_glass_reason,
        )
    )


class Requires:
    """The dependency a route declares for an action; its value is the caller. A 401 or a
    403 is recorded before it is answered."""

    def __init__(self, action: Action) -> None:
        self.action = action

    def __call__(
        self,
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Caller:
        try:
            caller = current_caller(request, credentials)
        except HTTPException as refusal:
            if refusal.status_code == status.HTTP_401_UNAUTHORIZED:
                record_access(request, self.action, AccessOutcome.DENIED, str(refusal.detail), None)
            raise
        decision = permission(caller, self.action)
        if not decision.allowed:
            record_access(request, self.action, AccessOutcome.DENIED, decision.reason, caller)
        enforce(decision)
        return caller


def _break_glass_reason(request: Request, caller: Caller) -> str | None:
    """The reason a supervisor gives for opening a case outside their agency, if they may
    and gave one long enough."""
    reason = request.headers.get(BREAK_GLASS_HEADER, "").strip()
    if len(reason) < BREAK_GLASS_MIN_REASON:
        return None
    return reason if permission(caller, Action.BREAK_GLASS).allowed else None


def settle(
    request: Request,
    caller: Caller,
    decision: Decision,
    *,
    not_found: str,
    case_id: UUID | None = None,
) -> None:
    """Record a refusal and raise its answer; an allowed decision passes."""
    if not decision.allowed:
        record_access(
            request, decision.action, AccessOutcome.DENIED, decision.reason, caller, case_id
        )
        enforce(decision, not_found=not_found)


def authorize(
    request: Request,
    caller: Caller,
    action: Action,
    agency: str | None,
    *,
    not_found: str,
    case_id: UUID | None = None,
    personal: bool = False,
) -> None:
    """Decide whether the caller may take ``action`` on a resource of ``agency``, already
    loaded; record the denial (or, for ``personal`` reads, the read) and raise the refusal.
    Out of scope answers ``not_found``, the route's own words for a missing resource. A
    personal read out of scope is allowed with a break-glass reason the caller may give."""
    decision = decide(caller, action, agency)
    if decision.outcome is Outcome.NOT_FOUND and personal and request.method == "GET":
        reason = _break_glass_reason(request, caller)
        if reason is not None:
            record_access(
                request,
                action,
                AccessOutcome.BREAK_GLASS,
                f"break-glass outside {caller.agency}",
                caller,
                case_id,
                reason,
            )
            return
    settle(request, caller, decision, not_found=not_found, case_id=case_id)
    if personal:
        record_access(request, action, AccessOutcome.ALLOWED, decision.reason, caller, case_id)


def authorize_listing(
    request: Request, caller: Caller, action: Action, *, personal: bool = False
) -> str | None:
    """The agency whose records the caller may list (``None``: every agency, for a role that
    holds ``action`` across agencies); a list of personal data is recorded as one read."""
    visible = None if PERMISSIONS[caller.role][action] is ANY else caller.agency
    if personal:
        purpose = f"a list of {visible or 'every agency'}'s records"
        record_access(request, action, AccessOutcome.ALLOWED, purpose, caller)
    return visible


class Public:
    """The dependency of a route anyone may call (health, schemas)."""

    def __call__(self) -> None:
        return None


def requires(action: Action) -> Requires:
    return Requires(action)


def public() -> Public:
    return Public()


def _declared(dependant: Dependant) -> set[str]:
    found: set[str] = set()
    for dependency in dependant.dependencies:
        if isinstance(dependency.call, Requires):
            found.add(dependency.call.action)
        elif isinstance(dependency.call, Public):
            found.add(PUBLIC)
        found |= _declared(dependency)
    return found


def route_requirements(app: FastAPI) -> dict[str, frozenset[str]]:
    """Each route (``"GET /cases/{case_id}"``) and the actions it declares, or ``{PUBLIC}``;
    an empty set is a route that declares nothing. FastAPI's own documentation routes
    (OpenAPI, Swagger UI, ReDoc) cannot declare and are public."""
    documentation = {
        app.openapi_url,
        app.docs_url,
        app.redoc_url,
        app.swagger_ui_oauth2_redirect_url,
    }
    requirements: dict[str, frozenset[str]] = {}
    # Included routers are walked too, each route with the dependencies its inclusion adds.
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, APIRoute):
            declared = frozenset(_declared(route.dependant))
        elif isinstance(route.original_route, Route) and route.path in documentation:
            declared = frozenset({PUBLIC})
        else:
            declared = frozenset()
        for method in sorted(route.methods or {"*"}):
            requirements[f"{method} {route.path or route.original_route}"] = declared
    return requirements
