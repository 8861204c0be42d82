"""The forms' settings: the platform's, plus where the forms are served and how people sign in.

Signing in is OpenID Connect's authorization-code flow with PKCE against the organisation's
identity provider (``HOMEWARD_WEB_OIDC_ISSUER`` and ``HOMEWARD_WEB_OIDC_CLIENT_ID``); left
unset on a developer's machine, the forms run their own local issuer (``/local-issuer``),
which signs with the local signer and which production refuses, as it refuses that signer.
"""

from pathlib import Path
from typing import Self

from pydantic import Field, SecretStr, model_validator

from shared.settings import SERVICE_URL, Settings

WEB = "web"


class WebSettings(Settings):
    web_port: int = 8004
    web_url: str | None = Field(
        default=None,
        pattern=SERVICE_URL,
        description="Where people reach the forms (the OIDC redirect URI is under it); unset: "
        "http://<host>:<web_port>.",
    )
    web_oidc_issuer: str | None = Field(
        default=None,
        description="The identity provider's issuer URL; its discovery document is read from "
        "<issuer>/.well-known/openid-configuration. Unset locally: the local issuer.",
    )
    web_oidc_client_id: str = Field(
        default="homeward-web", description="The forms' client id at the identity provider."
    )
    web_oidc_client_secret: SecretStr | None = Field(
        default=None,
        description="Only for a provider that treats the forms as a confidential client; "
        "PKCE protects the code either way.",
    )
    web_oidc_scopes: str = Field(default="openid profile", description="Scopes asked for.")
    web_cookie_key: SecretStr | None = Field(
        default=None,
        description="Base64 of 32 random bytes: seals the session cookie (the user's token). "
        "Unset locally: a key made once under the data folder; required in production.",
    )
    web_secure_cookies: bool = Field(
        default=False,
        description="Send cookies over HTTPS only (on in production, where the forms are "
        "served over HTTPS).",
    )

    @model_validator(mode="after")
    def _production_signs_in_at_the_provider(self) -> Self:
        if self.environment == "production":
            if self.web_oidc_issuer is None:
                raise ValueError(
                    "production signs people in at the identity provider: set "
                    "HOMEWARD_WEB_OIDC_ISSUER (the local issuer is for local use only)"
                )
            if self.web_cookie_key is None:
                raise ValueError("production needs HOMEWARD_WEB_COOKIE_KEY (32 random bytes)")
            if not self.web_secure_cookies:
                raise ValueError(
                    "production sends cookies over HTTPS only: set HOMEWARD_WEB_SECURE_COOKIES=true"
                )
        return self

    @property
    def issues_locally(self) -> bool:
        """True when the forms sign people in with their own local issuer."""
        return self.web_oidc_issuer is None and self.signs_in_locally

    def service_url(self, service: str) -> str:
        if service == WEB:
            return self.web_url or f"http://{self.host}:{self.web_port}"
        return super().service_url(service)

    def service_port(self, service: str) -> int:
        return self.web_port if service == WEB else super().service_port(service)

    def cookie_key_file(self) -> Path:
        return self.data_dir / "web-cookie.key"
