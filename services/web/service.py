"""The forms' composition root: ``build_runtime(settings)``, ``create_app(runtime)``."""

from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles

from services.web.i18n import LANGUAGE_COOKIE, language_of
from services.web.localissuer import LocalIssuer
from services.web.pages import pages
from services.web.runtime import HERE, WebRuntime, build_runtime
from services.web.session import SESSION_COOKIE, Session
from services.web.settings import WebSettings

__all__ = ["SETTINGS", "build_runtime", "create_app"]

SETTINGS = WebSettings  # what `homeward serve web` reads its settings as


def create_app(runtime: WebRuntime) -> FastAPI:
    app = FastAPI(title="Homeward forms", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.runtime = runtime
    settings = runtime.settings
    policy = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; "
        f"frame-ancestors 'none'; form-action 'self' {runtime.oidc.issuer_url}"
    )

    @app.middleware("http")
    async def sealed_session(request: Request, call_next: Any) -> Response:
        opened = runtime.sealer.open(SESSION_COOKIE, request.cookies.get(SESSION_COOKIE))
        request.state.session = Session.of(opened)
        request.state.language = language_of(
            request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language")
        )
        response: Response = await call_next(request)
        # A new or changed session (signed in or out, a first visit's CSRF secret) is sealed.
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
        response.headers["Content-Security-Policy"] = policy
        return response

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    if settings.issues_locally:
        app.include_router(LocalIssuer(settings).router())
    app.include_router(pages)
    return app
