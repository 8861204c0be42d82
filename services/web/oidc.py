"""Signing in: the forms are an OpenID Connect client (authorization code with PKCE, S256).

``begin`` reads the provider's discovery document and sends the browser to its authorization
endpoint with a fresh ``state`` (against forged callbacks), ``nonce`` (binds the ID token to
this sign-in) and PKCE challenge; the three secrets travel in a short-lived sealed cookie,
never in a server-side table. ``finish`` checks the state, exchanges the code with the
verifier, verifies the access token as every service does (issuer, audience, signature,
expiry; the caller's role and agency) and the ID token's nonce, and returns the session's
content. The access token then goes with every call the forms make to the services.
"""

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx2 as httpx
import jwt

from services.web.session import Session, same_secret
from services.web.settings import WebSettings
from shared.settings import LOCAL_ISSUER
from shared.tokens import ALGORITHMS, InvalidToken, TokenVerifier, signing_keys

LOCAL_ISSUER_PATH = "/local-issuer"
CALLBACK_PATH = "/signed-in"


class SignInFailed(Exception):
    """The sign-in cannot be trusted or did not complete; the message says why."""


def pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass(frozen=True)
class Provider:
    authorization_endpoint: str
    token_endpoint: str


class OidcClient:
    def __init__(self, settings: WebSettings, http: httpx.Client) -> None:
        self.settings = settings
        self.http = http
        self.verifier = TokenVerifier(settings)
        self.keys = signing_keys(settings)
        self.redirect_uri = settings.service_url("web") + CALLBACK_PATH
        self._provider: Provider | None = None

    @property
    def issuer_url(self) -> str:
        return self.settings.web_oidc_issuer or (
            self.settings.service_url("web") + LOCAL_ISSUER_PATH
        )

    def provider(self) -> Provider:
        if self._provider is None:
            answer = self.http.get(f"{self.issuer_url}/.well-known/openid-configuration")
            answer.raise_for_status()
            found = answer.json()
            self._provider = Provider(found["authorization_endpoint"], found["token_endpoint"])
        return self._provider

    def begin(self) -> tuple[str, dict[str, str]]:
        """Where to send the browser, and what the sign-in cookie keeps until it comes back."""
        pending = {
            "state": secrets.token_urlsafe(24),
            "nonce": secrets.token_urlsafe(24),
            "verifier": secrets.token_urlsafe(48),
        }
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.settings.web_oidc_client_id,
                "redirect_uri": self.redirect_uri,
                "scope": self.settings.web_oidc_scopes,
                "state": pending["state"],
                "nonce": pending["nonce"],
                "code_challenge": pkce_challenge(pending["verifier"]),
                "code_challenge_method": "S256",
            }
        )
        return f"{self.provider().authorization_endpoint}?{query}", pending

    def finish(self, code: str, state: str, pending: dict[str, Any] | None) -> Session:
        if pending is None or not same_secret(state, str(pending.get("state", ""))):
            raise SignInFailed("the sign-in's state does not match: start again")
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "client_id": self.settings.web_oidc_client_id,
            "code_verifier": str(pending["verifier"]),
        }
        secret = self.settings.web_oidc_client_secret
        endpoint = self.provider().token_endpoint
        if secret is None:
            answer = self.http.post(endpoint, data=form)
        else:
            credentials = (form["client_id"], secret.get_secret_value())
            answer = self.http.post(endpoint, data=form, auth=credentials)
        if answer.status_code != 200:
            raise SignInFailed(f"the identity provider refused the code ({answer.status_code})")
        tokens = answer.json()
        access_token = str(tokens.get("access_token", ""))
        try:
            caller = self.verifier.verify(access_token)
        except InvalidToken as refusal:
            raise SignInFailed(f"the access token cannot be trusted: {refusal}") from None
        self._check_id_token(str(tokens.get("id_token", "")), str(pending["nonce"]))
        expires_at = jwt.decode(access_token, options={"verify_signature": False})["exp"]
        return Session(
            token=access_token,
            expires_at=min(float(expires_at), time.time() + 12 * 3600),
            sub=caller.sub,
            role=str(caller.role),
            agency=caller.agency,
        )

    def _check_id_token(self, id_token: str, nonce: str) -> None:
        try:
            kid = jwt.get_unverified_header(id_token).get("kid", "")
            claims = jwt.decode(
                id_token,
                key=self.keys.key_for(str(kid)),
                algorithms=list(ALGORITHMS),
                audience=self.settings.web_oidc_client_id,
                issuer=self.settings.auth_issuer or LOCAL_ISSUER,
                leeway=self.settings.auth_leeway_seconds,
            )
        except (jwt.PyJWTError, InvalidToken) as error:
            raise SignInFailed(f"the ID token cannot be trusted: {error}") from None
        if not same_secret(str(claims.get("nonce", "")), nonce):
            raise SignInFailed("the ID token answers another sign-in (nonce)")
