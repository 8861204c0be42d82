"""The browser's session: one cookie, sealed (AES-GCM) with the forms' cookie key.

The user's access token lives in it, so the forms keep nothing per user on the server: any
instance, or one restarted, reads the same session, and nothing of it is at rest on the server.
The cookie is HttpOnly (no script reads it), SameSite=Lax, Secure in production; sealed, its
content (the token, the CSRF secret) is neither readable nor forgeable in the browser. A
session lasts as long as its token: past the token's expiry the cookie is worth nothing.

The same sealing protects the short-lived sign-in cookie (state, nonce, PKCE verifier).
"""

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.web.settings import WebSettings
from shared.keyring import ensure_master_key_file

SESSION_COOKIE = "hw_session"
SIGN_IN_COOKIE = "hw_sign_in"
NONCE_BYTES = 12


def cookie_key(settings: WebSettings) -> bytes:
    """The configured key, or (locally) one made once under the data folder."""
    if settings.web_cookie_key is not None:
        encoded = settings.web_cookie_key.get_secret_value()
    else:
        encoded = ensure_master_key_file(settings.cookie_key_file()).read_text().strip()
    key = base64.b64decode(encoded)
    if len(key) != 32:
        raise ValueError("the forms' cookie key must be 32 bytes")
    return key


class Sealer:
    """Seals a JSON document for a named cookie; the name is bound in, so that one cookie's
    value cannot stand in for another's."""

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._aead = AESGCM(key)

    def seal(self, name: str, document: dict[str, Any]) -> str:
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, json.dumps(document).encode(), name.encode())
        return base64.urlsafe_b64encode(nonce + sealed).decode()

    def offline_key(self, sub: str) -> str:
        """The key the offline script seals a user's pending forms with in the browser: the
        same for the user in every session (a form kept before signing in again is still
        sent), another for anyone else on the same browser, and never stored there."""
        derived = hmac.new(self._key, f"offline-forms/{sub}".encode(), hashlib.sha256)
        return base64.b64encode(derived.digest()).decode()

    def open(self, name: str, value: str | None) -> dict[str, Any] | None:
        if not value:
            return None
        try:
            raw = base64.urlsafe_b64decode(value.encode())
            opened = self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], name.encode())
            document = json.loads(opened)
        except (ValueError, InvalidTag):
            return None
        return document if isinstance(document, dict) else None


@dataclass
class Session:
    """What the browser's cookie holds: a CSRF secret always; once signed in, the token and
    who it names (shown on the pages)."""

    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    token: str | None = None
    expires_at: float = 0
    sub: str | None = None
    role: str | None = None
    agency: str | None = None

    @property
    def signed_in(self) -> bool:
        return self.token is not None and time.time() < self.expires_at

    def to_document(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def of(cls, document: dict[str, Any] | None) -> "Session":
        if document is None:
            return cls()
        try:
            return cls(**document)
        except TypeError:
            return cls()


def same_secret(given: str | None, expected: str) -> bool:
    return given is not None and secrets.compare_digest(given.encode(), expected.encode())
