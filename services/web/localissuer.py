"""A tiny OpenID Connect provider for a developer's machine: pick a demo user, get a token.

It answers discovery, an authorization page (a form naming the role, the agency and the
user; posting it issues a one-time code bound to the PKCE challenge, the client's redirect
URI and nonce) and the token endpoint (the code, once, within a minute, with the verifier
whose S256 hash is the challenge), which signs with the local signer
(:func:`shared.tokens.issue_local_token`): the same tokens as `homeward token`. The forms
mount it only while they sign in locally; production settings refuse it, as they refuse the
local signer.
"""

import secrets
import threading
import time
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse

from services.web.oidc import LOCAL_ISSUER_PATH, pkce_challenge
from services.web.runtime import check_csrf, render
from services.web.settings import WebSettings
from shared.access import AGENCY_CODE_PATTERN, Grant, Role
from shared.settings import LOCAL_ISSUER
from shared.tokens import LONGEST_LOCAL_TOKEN_MINUTES, issue_local_token

CODE_SECONDS = 60

# Who a developer signs in as, one click each: the README's caseworker and the others.
DEMO_USERS = [
    {"role": "caseworker", "agency": "CD-KIN", "sub": "cw-0412"},
    {"role": "supervisor", "agency": "CD-KIN", "sub": "sup-07"},
    {"role": "partner", "agency": "SCH-GOMA", "sub": "sch-goma-app"},
    {"role": "auditor", "agency": "UN-AUDIT", "sub": "au-0001"},
]


@dataclass(frozen=True)
class IssuedCode:
    challenge: str
    redirect_uri: str
    client_id: str
    nonce: str
    sub: str
    role: Role
    agency: str
    expires: float


class LocalIssuer:
    def __init__(self, settings: WebSettings) -> None:
        if not settings.issues_locally:
            raise RuntimeError("the local issuer runs only while signing in locally")
        self.settings = settings
        self._codes: dict[str, IssuedCode] = {}
        self._lock = threading.Lock()

    def issue(self, code: IssuedCode) -> str:
        value = secrets.token_urlsafe(32)
        with self._lock:
            now = time.monotonic()
            self._codes = {k: v for k, v in self._codes.items() if v.expires > now}
            self._codes[value] = code
        return value

    def redeem(self, value: str) -> IssuedCode | None:
        with self._lock:
            code = self._codes.pop(value, None)
        return code if code is not None and code.expires > time.monotonic() else None

    def router(self) -> APIRouter:
        router = APIRouter(prefix=LOCAL_ISSUER_PATH)
        base = self.settings.service_url("web") + LOCAL_ISSUER_PATH
        redirect_prefix = self.settings.service_url("web") + "/"

        @router.get("/.well-known/openid-configuration")
        def discovery() -> dict[str, object]:
            return {
                "issuer": LOCAL_ISSUER,
                "authorization_endpoint": f"{base}/authorize",
                "token_endpoint": f"{base}/token",
                "response_types_supported": ["code"],
                "code_challenge_methods_supported": ["S256"],
                "id_token_signing_alg_values_supported": ["EdDSA"],
            }

        @router.get("/authorize")
        def authorize_page(
            request: Request,
            client_id: str,
            redirect_uri: str,
            state: str,
            nonce: str,
            code_challenge: str,
            code_challenge_method: str,
            response_type: str = "code",
        ) -> object:
            if response_type != "code" or code_challenge_method != "S256":
                raise HTTPException(400, "only the code flow with PKCE S256")
            if not redirect_uri.startswith(redirect_prefix):
                raise HTTPException(400, "this issuer answers the forms only")
            fields = {
                "client_id": client_id,
                "redirect_uri": redirect_uri,
                "state": state,
                "nonce": nonce,
                "code_challenge": code_challenge,
            }
            return render(
                request, "local_issuer.html", fields=fields, users=DEMO_USERS, roles=list(Role)
            )

        @router.post("/authorize")
        def authorize(
            request: Request,
            client_id: Annotated[str, Form()],
            redirect_uri: Annotated[str, Form()],
            state: Annotated[str, Form()],
            nonce: Annotated[str, Form()],
            code_challenge: Annotated[str, Form()],
            role: Annotated[Role, Form()],
            agency: Annotated[str, Form(pattern=AGENCY_CODE_PATTERN)],
            sub: Annotated[str, Form(min_length=1, max_length=100)],
            csrf: Annotated[str, Form()],
        ) -> RedirectResponse:
            check_csrf(request, csrf)
            if not redirect_uri.startswith(redirect_prefix):
                raise HTTPException(400, "this issuer answers the forms only")
            code = self.issue(
                IssuedCode(
                    code_challenge,
                    redirect_uri,
                    client_id,
                    nonce,
                    sub,
                    role,
                    agency,
                    time.monotonic() + CODE_SECONDS,
                )
            )
            separator = "&" if "?" in redirect_uri else "?"
            return RedirectResponse(f"{redirect_uri}{separator}code={code}&state={state}", 303)

        @router.post("/token")
        def token(
            grant_type: Annotated[str, Form()],
            code: Annotated[str, Form()],
            redirect_uri: Annotated[str, Form()],
            client_id: Annotated[str, Form()],
            code_verifier: Annotated[str, Form(min_length=43, max_length=128)],
        ) -> JSONResponse:
            issued = self.redeem(code) if grant_type == "authorization_code" else None
            if (
                issued is None
                or issued.redirect_uri != redirect_uri
                or issued.client_id != client_id
                or not secrets.compare_digest(pkce_challenge(code_verifier), issued.challenge)
            ):
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            grants = frozenset(Grant) if issued.role is Role.AUDITOR else frozenset()
            minutes = LONGEST_LOCAL_TOKEN_MINUTES
            settings = self.settings

            def signed(**claims: Any) -> str:
                return issue_local_token(
                    settings, sub=issued.sub, role=issued.role, agency=issued.agency, **claims
                )

            return JSONResponse(
                {
                    "token_type": "Bearer",
                    "expires_in": minutes * 60,
                    "access_token": signed(grants=grants, minutes=minutes),
                    "id_token": signed(minutes=minutes, audience=client_id, nonce=issued.nonce),
                },
                headers={"Cache-Control": "no-store"},
            )

        return router
