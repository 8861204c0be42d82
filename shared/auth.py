"""What every route declares: the action it needs, or that it is public.

A route declares ``Depends(requires(Action.READ_CASE))`` (the caller is its value) or
``Depends(public())``; :func:`route_requirements` lists what each route of an app declares, so
that a test can fail for any route that declares nothing. ``requires`` answers 401 for a
missing or untrustworthy token and 403 for an action the caller's role does not hold; whether
the resource is within the caller's scope is known only once it is loaded, and is answered by
``enforce(decide(caller, action, resource_agency))``: 404 out of scope, 403 within.

The app holds its verifier as ``app.state.token_verifier`` (a :class:`TokenVerifier`); an app
without one refuses every request that needs a caller.
"""

import logging
import re
from typing import Annotated, Final

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.routing import Route

from shared.access import Action, Caller, Decision, Outcome, permission
from shared.tokens import InvalidToken, KeysUnavailable, TokenVerifier

log = logging.getLogger("homeward.auth")

PUBLIC: Final = "public"
REALM: Final = "homeward"

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


class Requires:
    """The dependency a route declares for an action; its value is the caller."""

    def __init__(self, action: Action) -> None:
        self.action = action

    def __call__(self, caller: Annotated[Caller, Depends(current_caller)]) -> Caller:
        enforce(permission(caller, self.action))
        return caller


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
    for route in app.routes:
        if isinstance(route, APIRoute):
            declared = frozenset(_declared(route.dependant))
        elif isinstance(route, Route) and route.path in documentation:
            declared = frozenset({PUBLIC})
        else:
            declared = frozenset()
        methods = getattr(route, "methods", None) or {"*"}
        for method in sorted(methods):
            requirements[f"{method} {getattr(route, 'path', route)}"] = declared
    return requirements
