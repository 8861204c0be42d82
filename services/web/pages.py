"""The forms' pages: signing in, my cases, registering a child, a case and its next steps, a
referral, the partner's inbox and the auditor's case history.

Every page is drawn on the server; every form posts back here with its CSRF token and a key
of its own (see :mod:`services.web.submissions`), and the service's answer decides the page
that follows: the case, or the form again with each refusal next to its field.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from services.web.backend import Backend, ServiceUnavailable
from services.web.errors import IN_THE_FUTURE, field_problems
from services.web.forms import Field, body_of, dates_in_the_future, humanised
from services.web.i18n import LANGUAGE_COOKIE, languages
from services.web.oidc import SignInFailed
from services.web.runtime import check_csrf, render, runtime_of, session_of
from services.web.session import SIGN_IN_COOKIE, Session
from shared.access import Role
from shared.consent import AgeTable
from shared.crypto import ERASED

pages = APIRouter()
# Steps offered on a case's page, in the order a journey usually meets them; the others the
# service offers follow. Erasure stays with the API: a supervisor's act, not a form to press.
USUAL_STEPS = ("interim-care", "consents", "age-assessment", "needs-assessment", "risk-level")
NOT_A_FORM = frozenset({"erasure", "children"})
YEAR_SECONDS = 365 * 24 * 3600


def signed_in(request: Request) -> Session:
    session = session_of(request)
    if not session.signed_in or session.token is None:
        raise HTTPException(303, headers={"Location": "/sign-in"})
    return session


def unavailable(request: Request, error: ServiceUnavailable) -> Response:
    return render(request, "message.html", 503, message="A service did not answer: try again.")


@pages.get("/")
def home(request: Request) -> RedirectResponse:
    session = signed_in(request)
    where = {Role.PARTNER: "/inbox", Role.AUDITOR: "/audit"}.get(Role(str(session.role)), "/cases")
    return RedirectResponse(where, 303)


@pages.get("/sign-in")
def sign_in_page(request: Request) -> Response:
    return render(request, "sign_in.html", local=runtime_of(request).settings.issues_locally)


@pages.get("/sign-in/start")
def start_sign_in(request: Request) -> Response:
    runtime = runtime_of(request)
    try:
        where, pending = runtime.oidc.begin()
    except Exception:  # the provider's discovery did not answer: nothing to sign in with
        return render(request, "message.html", 503, message="Signing in is not possible now.")
    response = RedirectResponse(where, 303)
    response.set_cookie(
        SIGN_IN_COOKIE,
        runtime.sealer.seal(SIGN_IN_COOKIE, pending),
        max_age=600,
        httponly=True,
        samesite="lax",
        secure=runtime.settings.web_secure_cookies,
    )
    return response


@pages.get("/signed-in")
def signed_in_callback(
    request: Request,
    code: Annotated[str, Query(max_length=500)],
    state: Annotated[str, Query(max_length=200)],
) -> Response:
    runtime = runtime_of(request)
    pending = runtime.sealer.open(SIGN_IN_COOKIE, request.cookies.get(SIGN_IN_COOKIE))
    try:
        request.state.session = runtime.oidc.finish(code, state, pending)
    except SignInFailed:
        return render(
            request, "message.html", 401, message="Signing in did not complete: start again."
        )
    response = RedirectResponse("/", 303)
    response.delete_cookie(SIGN_IN_COOKIE)
    return response


@pages.post("/sign-out")
def sign_out(request: Request, csrf: Annotated[str, Form()]) -> RedirectResponse:
    check_csrf(request, csrf)
    request.state.session = Session()
    return RedirectResponse("/sign-in", 303)


@pages.post("/language")
def choose_language(
    request: Request,
    csrf: Annotated[str, Form()],
    code: Annotated[str, Form(max_length=10)],
    back_to: Annotated[str, Form(max_length=500)] = "/",
) -> RedirectResponse:
    check_csrf(request, csrf)
    # Only a path of this site: never a way to send someone elsewhere.
    here = back_to if back_to.startswith("/") and not back_to.startswith("//") else "/"
    response = RedirectResponse(here, 303)
    if code in languages():
        response.set_cookie(LANGUAGE_COOKIE, code, max_age=YEAR_SECONDS, samesite="lax")
    return response


@pages.get("/cases")
def my_cases(
    request: Request,
    number: Annotated[str | None, Query(max_length=40)] = None,
    stage: Annotated[str | None, Query(max_length=40)] = None,
    risk: Annotated[str | None, Query(max_length=20)] = None,
    overdue: Annotated[str | None, Query(max_length=5)] = None,
) -> Response:
    session = signed_in(request)
    filters = {"case_number": number, "stage": stage, "risk": risk, "overdue": overdue}
    return case_list(
        request,
        filters,
        lambda backend: backend.call("intake", "GET", "/cases", str(session.token), params=filters),
    )


@pages.post("/cases/search")
async def cases_by_name(request: Request) -> Response:
    """A name is personal: it is posted, and goes to intake in a body, never in a URL."""

    def answer(session: Session, form: FormData) -> Response:
        name = str(form.get("name") or "")[:200]
        return case_list(
            request,
            {"name": name},
            lambda backend: backend.call(
                "intake", "POST", "/cases/search", str(session.token), json={"name": name}
            ),
        )

    return await posted(request, answer)


def case_list(
    request: Request, filters: dict[str, Any], listed: Callable[[Backend], Any]
) -> Response:
    backend = runtime_of(request).backend
    try:
        answer = listed(backend)
        choices = backend.schemas("intake").components
    except ServiceUnavailable as error:
        return unavailable(request, error)
    page = answer.json() if answer.status_code == 200 else {"items": [], "total": 0}
    return render(
        request,
        "cases.html",
        page=page,
        filters=filters,
        stages=choices.get("Stage", {}).get("enum", []),
        risks=choices.get("RiskLevel", {}).get("enum", []),
        humanised=humanised,
        refused=answer.status_code != 200,
    )


def form_values(form: FormData) -> dict[str, list[str]]:
    return {name: [str(value) for value in form.getlist(name)] for name in form}


@dataclass(frozen=True)
class FormPage:
    """One form: its title (a msgid), where it posts, its fields, and for a step the case
    version it is based on."""

    title: str
    action: str
    fields: list[Field]
    version: int | None = None


def show_form(
    request: Request,
    form: FormPage,
    status_code: int = 200,
    *,
    values: dict[str, list[str]] | None = None,
    problems: dict[str, str] | None = None,
    key: str | None = None,
    **context: Any,
) -> Response:
    values, problems = values or {}, problems or {}
    names = {spec.name for spec in form.fields}
    if "categories" in names:
        context["category_fields"] = runtime_of(request).backend.category_fields()
    if "given_by" in names:
        context["age_rules"] = age_rules(AgeTable())

    def section_given(section: str) -> bool:
        """Whether a section that may be left out was filled in (it shows open)."""
        return any(
            any(value.strip() for value in values.get(spec.name, [])) or spec.name in problems
            for spec in form.fields
            if spec.section == section
        )

    now = datetime.now(UTC)
    return render(
        request,
        "form.html",
        status_code,
        form=form,
        title=form.title,
        values=values,
        problems=problems,
        section_given=section_given,
        key=key or uuid.uuid4().hex,
        today=now.date().isoformat(),
        now=now.strftime("%Y-%m-%dT%H:%M"),
        humanised=humanised,
        **context,
    )


def age_rules(table: AgeTable) -> list[tuple[int, int | None, str]]:
    """Who decides by age, as the service's table says: (from, to, msgid) per band."""
    return [
        (0, table.assent_age - 1, "A caregiver's consent, or a best-interests decision."),
        (
            table.assent_age,
            table.mature_consent_age - 1,
            "The child's assent and a caregiver's consent (or a best-interests decision).",
        ),
        (
            table.mature_consent_age,
            table.own_consent_age - 1,
            "The child's assent and a caregiver's consent (or a best-interests decision), or "
            "the child's own consent with a recorded maturity assessment.",
        ),
        (table.own_consent_age, table.adult_age - 1, "The child's own consent."),
        (table.adult_age, None, "The young person's own consent: a caregiver's has lapsed."),
    ]


async def posted(request: Request, answer: Callable[[Session, FormData], Response]) -> Response:
    """A form posted by a signed-in user, its CSRF token checked; ``answer`` calls the services,
    which block, so it runs off the event loop."""
    session = signed_in(request)
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    return await run_in_threadpool(answer, session, form)


def submit(
    request: Request,
    session: Session,
    posted_form: FormData,
    page: FormPage,
    *,
    send: Callable[[dict[str, Any], str], Any],
    led_to: Callable[[dict[str, Any]], str],
) -> Response:
    """Send a form's answers to a service once per key; the page it leads to, or the form
    again with the refusals in the user's language."""
    translate = request.state.language.gettext
    values = form_values(posted_form)
    key = str(posted_form.get("idempotency_key") or "")
    if not key.isalnum() or len(key) > 64:
        raise HTTPException(400, "This form has no key: reload it.")

    def again(status_code: int, **shown: Any) -> Response:
        return show_form(request, page, status_code, values=values, key=key, **shown)

    body = body_of(page.fields, values)
    late = dates_in_the_future(page.fields, body, datetime.now(UTC).date())
    if late:
        return again(422, problems={name: translate(IN_THE_FUTURE) for name in late})
    refusal: list[Response] = []

    def record() -> str | None:
        answer = send(body, key)
        if answer.status_code in (200, 201):
            return led_to(answer.json())
        document = answer.json() if "json" in answer.headers.get("content-type", "") else {}
        if answer.status_code == 409 and "current_version" in document:
            refusal.append(again(409, reload=True))
        elif answer.status_code == 422:
            problems, general = field_problems(document, translate)
            refusal.append(again(422, problems=problems, general=general))
        else:
            general = translate(str(document.get("detail", "The service refused this.")))
            refusal.append(again(answer.status_code, general=general))
        return None

    try:
        where = runtime_of(request).submissions.once(str(session.sub), key, record)
    except ServiceUnavailable as error:
        return unavailable(request, error)
    return RedirectResponse(where, 303) if where is not None else refusal[0]


def recorded_on_case(case_id: object) -> str:
    return f"/cases/{case_id}?recorded=1"


def registration(request: Request) -> FormPage:
    schemas = runtime_of(request).backend.schemas("intake")
    model = schemas.request_model("/cases")
    assert model is not None, "intake's OpenAPI has no registration"
    return FormPage("Register a released child", "/cases/new", schemas.fields(model))


@pages.get("/cases/new")
def registration_form(request: Request) -> Response:
    signed_in(request)
    try:
        return show_form(request, registration(request))
    except ServiceUnavailable as error:
        return unavailable(request, error)


@pages.post("/cases/new")
async def register(request: Request) -> Response:
    def answer(session: Session, form: FormData) -> Response:
        return submit(
            request,
            session,
            form,
            registration(request),
            # The form's key is the registration's Idempotency-Key: one case however often sent.
            send=lambda body, key: runtime_of(request).backend.call(
                "intake",
                "POST",
                "/cases",
                str(session.token),
                json=body,
                headers={"Idempotency-Key": f"web-{key}"},
            ),
            led_to=lambda case: recorded_on_case(case["case_id"]),
        )

    return await posted(request, answer)


def step_paths(request: Request) -> list[str]:
    prefix = "/cases/{case_id}/"
    found = [
        path.removeprefix(prefix)
        for path, operations in runtime_of(request).backend.schemas("intake").paths.items()
        if path.startswith(prefix) and "{" not in path.removeprefix(prefix) and "post" in operations
    ]
    steps = [step for step in found if step not in NOT_A_FORM]
    return [s for s in USUAL_STEPS if s in steps] + [s for s in steps if s not in USUAL_STEPS]


@pages.get("/cases/{case_id}")
def case_page(request: Request, case_id: uuid.UUID, recorded: int = 0) -> Response:
    session = signed_in(request)
    backend, token = runtime_of(request).backend, str(session.token)
    try:
        case = backend.call("intake", "GET", f"/cases/{case_id}", token)
        if case.status_code != 200:
            return render(request, "message.html", case.status_code, message="No such case here.")
        timeline = backend.call("intake", "GET", f"/cases/{case_id}/timeline", token).json()
        referrals = backend.call("referral", "GET", f"/cases/{case_id}/referrals", token)
        plan = backend.call("followup", "GET", f"/plans/{case_id}", token)
        steps = step_paths(request)
    except ServiceUnavailable as error:
        return unavailable(request, error)
    entries = [
        {
            "at": datetime.fromisoformat(entry["recorded_at"]),
            "what": humanised_event(entry["type"]),
            "by": entry["data"].get("recorded_by") or entry["data"].get("caseworker"),
            "detail": None,
        }
        for entry in timeline
    ]
    for referral in referrals.json().get("items", []) if referrals.status_code == 200 else []:
        entries.append(
            {
                "at": datetime.fromisoformat(referral["made_at"]),
                "what": "Referral",
                "by": referral["agency"],
                "detail": (humanised(referral["service"]), humanised(referral["state"])),
            }
        )
    entries.sort(key=lambda entry: entry["at"], reverse=True)
    found = case.json()
    released = found.get("released_on")
    return render(
        request,
        "case.html",
        case=found,
        # A date in the user's language; an erased case's reads as nothing.
        released_on=date.fromisoformat(released) if released != ERASED else None,
        # Follow-up's plan, once a return made one (404 before).
        visits=[
            {**visit, "due_on": date.fromisoformat(visit["due_on"])}
            for visit in (plan.json()["visits"] if plan.status_code == 200 else [])
        ],
        entries=entries,
        steps=steps,
        usual=len(USUAL_STEPS),
        humanised=humanised,
        recorded=bool(recorded),
    )


def humanised_event(event_type: str) -> str:
    """``org.homeward.intake.InterimCarePlaced.v1`` → ``Interim care placed``."""
    name = event_type.split(".")[-2]
    words = "".join(f" {c.lower()}" if c.isupper() else c for c in name).strip()
    return words[:1].upper() + words[1:]


def step(request: Request, case_id: uuid.UUID, path: str, version: int) -> FormPage:
    schemas = runtime_of(request).backend.schemas("intake")
    model = schemas.request_model(f"/cases/{{case_id}}/{path}")
    if model is None or path in NOT_A_FORM:
        raise HTTPException(404, "No such step.")
    return FormPage(
        humanised(path), f"/cases/{case_id}/steps/{path}", schemas.fields(model), version
    )


@pages.get("/cases/{case_id}/steps/{path:path}")
def step_form(request: Request, case_id: uuid.UUID, path: str) -> Response:
    return show_versioned(
        request,
        ("intake", f"/cases/{case_id}"),
        lambda version: step(request, case_id, path, version),
        shows_case=True,
    )


def show_versioned(
    request: Request,
    read: tuple[str, str],
    page_at: Callable[[int], FormPage],
    *,
    shows_case: bool = False,
) -> Response:
    """A form based on the version of what it changes, read from ``read`` (a service and
    its path) as the user may read it; ``shows_case``: what was read is the case, which the
    form names (and whose age the consent form marks)."""
    session = signed_in(request)
    service, path = read
    try:
        answer = runtime_of(request).backend.call(service, "GET", path, str(session.token))
        if answer.status_code != 200:
            return render(request, "message.html", 404, message="No such case here.")
        found = answer.json()
        context = {"case": found} if shows_case else {}
        return show_form(request, page_at(found["version"]), **context)
    except ServiceUnavailable as error:
        return unavailable(request, error)


@pages.post("/cases/{case_id}/steps/{path:path}")
async def record_step(request: Request, case_id: uuid.UUID, path: str) -> Response:
    return await record_versioned(
        request,
        case_id,
        lambda version: step(request, case_id, path, version),
        ("intake", f"/cases/{case_id}/{path}"),
    )


async def record_versioned(
    request: Request,
    case_id: uuid.UUID,
    page_at: Callable[[int], FormPage],
    to: tuple[str, str],
) -> Response:
    """A form based on a version of what it changes (a case, a plan): posted to ``to`` (a
    service and its path) with that version; the case's page follows."""
    service, path = to

    def answer(session: Session, form: FormData) -> Response:
        version = str(form.get("version") or "")
        if not version.isdigit():
            raise HTTPException(400, "This form names no version: reload it.")
        return submit(
            request,
            session,
            form,
            page_at(int(version)),
            send=lambda body, _key: runtime_of(request).backend.call(
                service, "POST", path, str(session.token), json={**body, "version": int(version)}
            ),
            led_to=lambda _answer: recorded_on_case(case_id),
        )

    return await posted(request, answer)


def visit(request: Request, case_id: uuid.UUID, number: int, version: int) -> FormPage:
    schemas = runtime_of(request).backend.schemas("followup")
    model = schemas.request_model("/plans/{case_id}/visits/{number}/completion")
    assert model is not None, "follow-up's OpenAPI has no visit"
    action = f"/cases/{case_id}/visits/{number}"
    return FormPage("Follow-up visit", action, schemas.fields(model), version)


@pages.get("/cases/{case_id}/visits/{number}")
def visit_form(request: Request, case_id: uuid.UUID, number: int) -> Response:
    return show_versioned(
        request,
        ("followup", f"/plans/{case_id}"),
        lambda version: visit(request, case_id, number, version),
    )


@pages.post("/cases/{case_id}/visits/{number}")
async def record_visit(request: Request, case_id: uuid.UUID, number: int) -> Response:
    return await record_versioned(
        request,
        case_id,
        lambda version: visit(request, case_id, number, version),
        ("followup", f"/plans/{case_id}/visits/{number}/completion"),
    )


def referral(request: Request, case_id: uuid.UUID) -> FormPage:
    schemas = runtime_of(request).backend.schemas("referral")
    model = schemas.request_model("/referrals")
    assert model is not None, "referral's OpenAPI has no referral"
    return FormPage("Referral", f"/cases/{case_id}/referral", schemas.fields(model))


@pages.get("/cases/{case_id}/referral")
def referral_form(request: Request, case_id: uuid.UUID) -> Response:
    signed_in(request)
    try:
        return show_form(request, referral(request, case_id))
    except ServiceUnavailable as error:
        return unavailable(request, error)


@pages.post("/cases/{case_id}/referral")
async def refer(request: Request, case_id: uuid.UUID) -> Response:
    def answer(session: Session, form: FormData) -> Response:
        return submit(
            request,
            session,
            form,
            referral(request, case_id),
            send=lambda body, _key: runtime_of(request).backend.call(
                "referral",
                "POST",
                "/referrals",
                str(session.token),
                json={**body, "case_id": str(case_id)},
            ),
            led_to=lambda _referral: recorded_on_case(case_id),
        )

    return await posted(request, answer)


@pages.get("/inbox")
def partner_inbox(request: Request) -> Response:
    session = signed_in(request)
    backend = runtime_of(request).backend
    try:
        answer = backend.call(
            "referral",
            "GET",
            f"/partners/{quote(str(session.agency))}/referrals",
            str(session.token),
        )
    except ServiceUnavailable as error:
        return unavailable(request, error)
    page: dict[str, Any] = answer.json() if answer.status_code == 200 else {"items": []}
    for referral in page["items"]:
        referral["made_at"] = datetime.fromisoformat(referral["made_at"])
    return render(
        request, "inbox.html", page=page, humanised=humanised, refused=answer.status_code != 200
    )


@pages.get("/audit")
def audit_search(request: Request) -> Response:
    signed_in(request)
    return render(request, "audit.html")


@pages.get("/audit/open")
def open_case_history(request: Request, case_id: Annotated[str, Query(max_length=40)]) -> Response:
    signed_in(request)
    try:
        return RedirectResponse(f"/audit/cases/{uuid.UUID(case_id.strip())}", 303)
    except ValueError:
        return render(request, "message.html", 422, message="This is not a case id.")


@pages.get("/audit/cases/{case_id}")
def case_history(request: Request, case_id: uuid.UUID) -> Response:
    session = signed_in(request)
    try:
        answer = runtime_of(request).backend.call(
            "intake",
            "GET",
            f"/audit/cases/{case_id}",
            str(session.token),
            params={"format": "html", "lang": request.state.language.code},
        )
    except ServiceUnavailable as error:
        return unavailable(request, error)
    if answer.status_code != 200:
        return render(request, "message.html", answer.status_code, message="No such case here.")
    # The report is intake's own page, every value escaped there, fetching nothing.
    return HTMLResponse(answer.text)


@pages.get("/healthz")
def healthz() -> dict[str, str]:
    """Up: the forms answer (whether the services do, each page says)."""
    return {"status": "up"}
