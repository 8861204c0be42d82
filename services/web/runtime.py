"""What every page of the forms uses: the runtime (settings, the services' client, sign-in,
the cookie sealer, templates), the request's session, drawing a page, checking a form's CSRF
token."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx
from fastapi import HTTPException, Request, Response
from fastapi.templating import Jinja2Templates

from services.web.backend import Backend
from services.web.i18n import languages
from services.web.oidc import OidcClient
from services.web.session import Sealer, Session, cookie_key, same_secret
from services.web.settings import WebSettings
from services.web.submissions import Submissions
from shared.settings import Settings

HERE = Path(__file__).parent
HTTP_TIMEOUT_SECONDS = 15


@dataclass
class WebRuntime:
    settings: WebSettings
    backend: Backend
    oidc: OidcClient
    sealer: Sealer
    templates: Jinja2Templates
    submissions: Submissions


def build_runtime(settings: Settings) -> WebRuntime:
    web = settings if isinstance(settings, WebSettings) else WebSettings(**settings.model_dump())
    http = httpx.Client(timeout=HTTP_TIMEOUT_SECONDS)
    return WebRuntime(
        settings=web,
        backend=Backend(web, http),
        oidc=OidcClient(web, http),
        sealer=Sealer(cookie_key(web)),
        templates=Jinja2Templates(directory=HERE / "templates"),
        submissions=Submissions(),
    )


def runtime_of(request: Request) -> WebRuntime:
    runtime: WebRuntime = request.app.state.runtime
    return runtime


def session_of(request: Request) -> Session:
    """The browser's session, opened from its cookie by the app's middleware."""
    session: Session = request.state.session
    return session


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    """A page in the user's language, with what every page shows (the user, the languages,
    the offline script's key for a signed-in user)."""
    runtime, language, session = runtime_of(request), request.state.language, session_of(request)
    offline_key = runtime.sealer.offline_key(str(session.sub)) if session.signed_in else None
    return runtime.templates.TemplateResponse(
        request,
        template,
        {
            "_": language.gettext,
            "language": language,
            "languages": languages().values(),
            "session": session,
            "offline_key": offline_key,
            **context,
        },
        status_code=status_code,
    )


def check_csrf(request: Request, given: object) -> None:
    """A form's CSRF token must be its session's: 403 otherwise."""
    if not isinstance(given, str) or not same_secret(given, session_of(request).csrf):
        raise HTTPException(403, "This form is out of date or was not sent from this site.")
