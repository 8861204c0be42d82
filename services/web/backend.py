"""The services, as the forms call them: over HTTP, with the signed-in user's own token.

The forms hold no rights of their own: every read and write is the user's, checked and
recorded by the service as any other client's would be (the access log names the user).
"""

import threading
from typing import Any

import httpx2 as httpx

from services.web.forms import Schemas
from services.web.settings import WebSettings
from shared.kafka import SERVICES


class ServiceUnavailable(Exception):
    """A service did not answer; the page says so and nothing is assumed recorded."""


class Backend:
    def __init__(self, settings: WebSettings, http: httpx.Client) -> None:
        self.http = http
        self.urls = {service: settings.service_url(service) for service in SERVICES}
        self._schemas: dict[str, Schemas] = {}
        self._lock = threading.Lock()
        self._categories: dict[str, list[str]] | None = None
        self._answers: dict[str, dict[str, Any]] = {}

    def call(
        self,
        service: str,
        method: str,
        path: str,
        token: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        try:
            return self.http.request(
                method,
                self.urls[service] + path,
                json=json,
                params={k: v for k, v in (params or {}).items() if v not in (None, "")},
                headers={"Authorization": f"Bearer {token}", **(headers or {})},
            )
        except httpx.HTTPError as error:
            raise ServiceUnavailable(f"{service} did not answer: {type(error).__name__}") from None

    def _document(self, service: str, path: str) -> Any:
        """A public JSON document of a service (a schema, a table), or ServiceUnavailable."""
        try:
            answer = self.http.get(self.urls[service] + path)
            answer.raise_for_status()
        except httpx.HTTPError as error:
            raise ServiceUnavailable(f"{service} did not answer: {error}") from None
        return answer.json()

    def category_fields(self) -> dict[str, list[str]]:
        """What a consent to each data category lets a referral share (the referral
        service's own table), read once."""
        if self._categories is None:
            self._categories = self._document("referral", "/categories")
        return self._categories

    def answer_model(self, answer_type: str) -> dict[str, Any]:
        """The data a partner's answer carries: its published JSON Schema, served by the
        referral service (read once per type)."""
        with self._lock:
            if answer_type not in self._answers:
                self._answers[answer_type] = self._document(
                    "referral", f"/schemas/org.homeward.partner.{answer_type}.v1"
                )
            return self._answers[answer_type]

    def schemas(self, service: str) -> Schemas:
        """The service's request models, from its OpenAPI document (read once)."""
        with self._lock:
            if service not in self._schemas:
                self._schemas[service] = Schemas(self._document(service, "/openapi.json"))
            return self._schemas[service]
