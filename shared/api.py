"""What every service's HTTP API has in common: start-up, health, limits, the shapes of
requests, and refusals that say what to fix."""

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Annotated, Any, Literal

import pycountry
from eventsourcing.application import AggregateNotFoundError
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.access import AGENCY_CODE_PATTERN, Action
from shared.auth import public, requires
from shared.keyring import CaseErased
from shared.publishing import load_schema
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


@contextmanager
def refusals(
    *,
    conflicts: tuple[type[Exception], ...] = (),
    invalid: tuple[type[Exception], ...] = (),
    missing: tuple[type[Exception], ...] = (),
    not_found: str = "Not found.",
) -> Iterator[None]:
    """Domain refusals as HTTP answers: 409 for what the state forbids, 422 for facts that
    cannot be true, 404 for what does not exist. Messages name ids, never personal data."""
    not_found_errors: tuple[type[Exception], ...] = (AggregateNotFoundError, *missing)
    try:
        yield
    except invalid as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"Fix this: {error}") from None
    except conflicts as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    except not_found_errors:
        raise HTTPException(status.HTTP_404_NOT_FOUND, not_found) from None


class BodySizeLimit:
    """Refuse bodies over a limit with 413 before they are read into memory."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise _BodyTooLarge
            return message

        try:
            await self.app(scope, counting_receive, send)
        except _BodyTooLarge:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        response = JSONResponse(
            status_code=413,
            content={"detail": f"The request body is larger than {self.max_bytes} bytes."},
        )
        await response({"type": "http"}, _no_body, send)


class _BodyTooLarge(Exception):
    pass


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


async def refuse_write_to_erased_case(_request: Request, error: Exception) -> JSONResponse:
    """409 for a write about a case whose key was destroyed: erased while the request ran, or
    before this service heard of it. Nothing about an erased case is recorded any more."""
    return JSONResponse(
        status_code=409,
        content={"detail": f"{error}: nothing more can be recorded about it"},
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
    app.add_middleware(BodySizeLimit, max_bytes=runtime.settings.max_request_bytes)
    app.add_exception_handler(RequestValidationError, explain_validation_error)
    app.add_exception_handler(CaseErased, refuse_write_to_erased_case)

    # Anyone may learn whether the service is up; where it is failing (hosts, positions,
    # errors) helps an attacker, so the details need a token that may see them.
    @app.get(
        "/healthz",
        tags=["operations"],
        summary="Up, degraded (working, with events waiting to be published) or down",
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

    @app.get(
        "/schemas",
        tags=["schemas"],
        summary="The CloudEvent types this service publishes",
        dependencies=[Depends(public())],
    )
    def list_schemas() -> list[str]:
        return runtime.catalogue.types

    @app.get(
        "/schemas/{event_type}",
        tags=["schemas"],
        summary="One published JSON Schema",
        dependencies=[Depends(public())],
    )
    def get_schema(event_type: str) -> dict[str, Any]:
        prefix = f"org.homeward.{runtime.service}."
        name, _, version = event_type.removeprefix(prefix).rpartition(".v")
        if event_type not in runtime.catalogue.types:
            raise HTTPException(404, f"{event_type} is not published by {runtime.service}")
        return load_schema(runtime.service, name, int(version))

    for router in routers:
        app.include_router(router)
    return app
