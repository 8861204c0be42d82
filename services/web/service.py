"""The forms' composition root: ``build_runtime(settings)``, ``create_app(runtime)``."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx
from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from services.web.backend import Backend
from services.web.i18n import LANGUAGE_COOKIE, language_of, languages
from services.web.localissuer import LocalIssuer
from services.web.oidc import OidcClient
from services.web.session import SESSION_COOKIE, Sealer, Session, cookie_key, same_secret
from services.web.settings import WebSettings
from services.web.submissions import Submissions
from shared.settings import Settings

HERE = Path(__file__).parent
SETTINGS = WebSettings  # what `homeward serve web` reads its settings as
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
    templates = Jinja2Templates(directory=HERE / "templates")
    return WebRuntime(
        settings=web,
        backend=Backend(web, http),
        oidc=OidcClient(web, http),
        sealer=Sealer(cookie_key(web)),
        templates=templates,
        submissions=Submissions(),
    )


def session_of(request: Request) -> Session:
    session: Session = request.state.session
    return session


def create_app(runtime: WebRuntime) -> FastAPI:
    from services.web.pages import pages

    app = FastAPI(title="Homeward forms", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.runtime = runtime
    settings = runtime.settings

    @app.middleware("http")
    async def sealed_session(request: Request, call_next: Any) -> Response:
        opened = runtime.sealer.open(SESSION_COOKIE, request.cookies.get(SESSION_COOKIE))
        session = Session.of(opened)
        request.state.session = session
        request.state.language = language_of(
            request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language")
        )
        response: Response = await call_next(request)
        if request.state.session.to_document() != opened:
            response.set_cookie(
                SESSION_COOKIE,
                runtime.sealer.seal(SESSION_COOKIE, request.state.session.to_document()),
                httponly=True,
                samesite="lax",
                secure=settings.web_secure_cookies,
                path="/",
            )
        # Pages about a child: never kept by a shared cache, never framed by another site.
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data:; style-src 'self'; "
            "frame-ancestors 'none'; form-action 'self' " + runtime.oidc.issuer_url
        )
        return response

    def render(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
        language = request.state.language
        session = session_of(request)
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

    def check_csrf(request: Request, given: str | None) -> None:
        if not same_secret(given, session_of(request).csrf):
            raise HTTPException(403, "This form is out of date or was not sent from this site.")

    app.state.render = render
    app.state.check_csrf = check_csrf
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    if settings.issues_locally:
        app.include_router(LocalIssuer(settings).router())
    app.include_router(pages)
    return app
