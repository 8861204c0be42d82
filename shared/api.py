"""What every service's HTTP API has in common: start-up, health, limits, the shapes of
requests, and refusals that say what to fix."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

import pycountry
from eventsourcing.persistence import IntegrityError
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Query, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.access import AGENCY_CODE_PATTERN, Action
from shared.auth import public, requires
from shared.keyring import CaseErased
from shared.metrics import RequestMetrics
from shared.publishing import published_schema
from shared.refusals import InvalidData, NotFound, RuleViolation, VersionConflict
from shared.runtime import ServiceRuntime
from shared.tokens import TokenVerifier

Erased = Literal["[erased]"]  # what a sealed field reads once its case's key is destroyed
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
# Paging bounds: a database integer overflows past 2**63, which must be a 422, not a 500.
MAX_OFFSET = 10_000_000
PageOffset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Rows to skip.")]
PageLimit = Annotated[int, Query(ge=1, le=500, description="Rows to return, at most.")]
AgencyCode = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=AGENCY_CODE_PATTERN),
]
# Every query parameter and path segment has bounds: what no stored value can match is a 422.
LONGEST_AGENCY_CODE = 26  # what AGENCY_CODE_PATTERN matches at most: three parts of 8 and 2 dashes
AgencyFilter = Annotated[
    str | None, Query(max_length=LONGEST_AGENCY_CODE, description="Only this agency's.")
]
AgencyInPath = Annotated[str, Path(max_length=LONGEST_AGENCY_CODE, description="An agency code.")]
CaseworkerFilter = Annotated[
    str | None, Query(max_length=200, description="Only this caseworker's (token `sub`).")
]


def _an_assigned_country(code: str) -> str:
    if pycountry.countries.get(alpha_2=code) is None:
        raise ValueError(f"{code!r} is not an assigned ISO 3166-1 alpha-2 country code")
    return code


# The non-refoulement rule compares these codes: one that names no country would compare unequal
# to the child's real nationality and let an authority of the country of origin through.
CountryCode = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=r"^[A-Z]{2}$"),
    AfterValidator(_an_assigned_country),
]


class RequestModel(BaseModel):
    """A request body: a field it does not know is an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class VersionedCommand(RequestModel):
    version: int = Field(ge=1, description="The version this change is based on.")


def answer_refusals(app: FastAPI) -> None:
    """The one mapping of refusals to HTTP answers for every service (shared.refusals):
    409 for what the state forbids or a change recorded meanwhile (with the version to start
    again from, when it is known), 422 for facts that cannot be true, 404 for what does not
    exist. Anything else is a bug: 500, and the connection is closed after it."""

    async def conflict(_request: Request, error: Exception) -> JSONResponse:
        body: dict[str, Any] = {"detail": str(error)}
        if isinstance(error, VersionConflict) and error.current_version is not None:
            body["current_version"] = error.current_version
        return JSONResponse(body, status_code=status.HTTP_409_CONFLICT)

    async def saved_meanwhile(_request: Request, _error: Exception) -> JSONResponse:
        # A save that lost the race to another one: which aggregate is not known here.
        detail = "Another change was recorded while this command ran: reload and try again."
        return JSONResponse({"detail": detail}, status_code=status.HTTP_409_CONFLICT)

    async def invalid(_request: Request, error: Exception) -> JSONResponse:
        return JSONResponse(
            {"detail": f"Fix this: {error}"}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT
        )

    async def not_found(_request: Request, error: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=status.HTTP_404_NOT_FOUND)

    async def erased(_request: Request, error: Exception) -> JSONResponse:
        # A write about a case whose key was destroyed: erased while the request ran, or
        # before this service heard of it. Nothing about an erased case is recorded any more.
        detail = f"{error}: nothing more can be recorded about it"
        return JSONResponse({"detail": detail}, status_code=status.HTTP_409_CONFLICT)

    async def failed(_request: Request, _error: Exception) -> JSONResponse:
        # After a failure the connection's state is not trusted: a client must not reuse it.
        return JSONResponse(
            {"detail": "Internal error; try again later."},
            status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
            headers={"Connection": "close"},
        )

    app.add_exception_handler(RuleViolation, conflict)
    app.add_exception_handler(IntegrityError, saved_meanwhile)
    app.add_exception_handler(InvalidData, invalid)
    app.add_exception_handler(NotFound, not_found)
    app.add_exception_handler(CaseErased, erased)
    app.add_exception_handler(Exception, failed)


class BodySizeLimit:
    """Refuse bodies over a limit with 413 before they are read into memory, whether their
    size is declared (Content-Length) or not (chunked transfer encoding)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.detail = f"The request body is larger than {max_bytes} bytes."

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _refuse(send, status.HTTP_413_CONTENT_TOO_LARGE, self.detail)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                # An HTTPException, which FastAPI's body reading lets through as it is: it
                # answers any other error raised there with a 400.
                raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, self.detail)
            return message

        await self.app(scope, counting_receive, send)


class JsonBodiesOnly:
    """Refuse with 415 a body not declared as JSON: every route takes JSON, and FastAPI would
    hand any other body to validation as raw bytes (a 422 that says nothing useful)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _is_other_than_json(dict(scope["headers"])):
            detail = "Send the request body as JSON, with Content-Type: application/json."
            await _refuse(send, status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, detail)
            return
        await self.app(scope, receive, send)


def _is_other_than_json(headers: dict[bytes, bytes]) -> bool:
    has_body = b"transfer-encoding" in headers or headers.get(b"content-length", b"0") != b"0"
    media_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
    is_json = media_type == b"application/json" or (
        media_type.startswith(b"application/") and media_type.endswith(b"+json")
    )
    return has_body and not is_json


async def _refuse(send: Send, status_code: int, detail: str) -> None:
    response = JSONResponse(status_code=status_code, content={"detail": detail})
    await response({"type": "http"}, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def _field_path(location: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in location if part != "body") or "body"


async def explain_validation_error(_request: Request, error: Exception) -> JSONResponse:
    """422 with one readable line per problem; the values sent are not echoed back,
    since they may be personal data."""
    assert isinstance(error, RequestValidationError)
    problems = [
        {"field": _field_path(problem["loc"]), "problem": problem["msg"]}
        for problem in error.errors()
    ]
    summary = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
    return JSONResponse(
        status_code=422, content={"detail": f"Fix these fields: {summary}", "errors": problems}
    )


def create_service_api(
    runtime: ServiceRuntime, *, title: str, description: str, routers: list[APIRouter]
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        runtime.start()
        try:
            yield
        finally:
            runtime.stop()

    app = FastAPI(title=title, description=description, version="0.1.0", lifespan=lifespan)
    app.state.runtime = runtime
    app.state.token_verifier = TokenVerifier(runtime.settings)
    app.add_middleware(JsonBodiesOnly)
    app.add_middleware(BodySizeLimit, max_bytes=runtime.settings.max_request_bytes)
    # Added last, so outermost: the refusals of the limits above are timed too.
    app.add_middleware(RequestMetrics, histogram=runtime.metrics.requests)
    app.add_exception_handler(RequestValidationError, explain_validation_error)
    answer_refusals(app)

    # Anyone may learn whether the service is up; where it is failing (hosts, positions,
    # errors) helps an attacker, so the details need a token that may see them.
    @app.get(
        "/healthz",
        tags=["operations"],
        summary="Up, degraded (working, with events or messages waiting) or down",
        dependencies=[Depends(public())],
    )
    def healthz() -> JSONResponse:
        status = runtime.health()["status"]
        answer = {"ok": "up", "degraded": "degraded"}.get(status, "down")
        return JSONResponse({"status": answer}, status_code=503 if answer == "down" else 200)

    @app.get(
        "/healthz/details",
        tags=["operations"],
        summary="Database, Kafka, relays and consumers",
        dependencies=[Depends(requires(Action.VIEW_HEALTH_DETAILS))],
    )
    def health_details() -> JSONResponse:
        report = runtime.health()
        return JSONResponse(report, status_code=503 if report["status"] == "down" else 200)

    # The same facts as the details, and traffic by route (how many children are registered,
    # erased...): no personal data, but nothing for just anyone either.
    @app.get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus metrics: requests, relays, consumers, erasures pending",
        dependencies=[Depends(requires(Action.VIEW_HEALTH_DETAILS))],
        response_class=Response,
    )
    def metrics() -> Response:
        return Response(runtime.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    @app.get(
        "/schemas",
        tags=["schemas"],
        summary="The JSON Schemas this service serves: of the CloudEvent types it publishes "
        "(earlier versions included) or accepts, and the shared definitions they refer to",
        dependencies=[Depends(public())],
    )
    def list_schemas() -> list[str]:
        return runtime.schema_names

    @app.get(
        "/schemas/{name}",
        tags=["schemas"],
        summary="One published JSON Schema: a type's (a message's dataschema), or a shared "
        "definition's (urn:homeward:schema:<name>)",
        dependencies=[Depends(public())],
    )
    def get_schema(name: Annotated[str, Path(max_length=200)]) -> dict[str, Any]:
        if name not in runtime.schema_names:
            raise HTTPException(404, f"{name} is not served by {runtime.service}: see /schemas")
        return published_schema(name)

    for router in routers:
        app.include_router(router)
    return app
