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

    def category_fields(self) -> dict[str, list[str]]:
        """What a consent to each data category lets a referral share (the referral
        service's own table), read once."""
        if self._categories is None:
            try:
                answer = self.http.get(self.urls["referral"] + "/categories")
                answer.raise_for_status()
            except httpx.HTTPError as error:
                raise ServiceUnavailable(f"referral did not answer: {error}") from None
            self._categories = answer.json()
        return self._categories

    def schemas(self, service: str) -> Schemas:
        """The service's request models, from its OpenAPI document (read once)."""
        with self._lock:
            if service not in self._schemas:
                try:
                    answer = self.http.get(self.urls[service] + "/openapi.json")
                    answer.raise_for_status()
                except httpx.HTTPError as error:
                    raise ServiceUnavailable(f"{service} did not answer: {error}") from None
                self._schemas[service] = Schemas(answer.json())
            return self._schemas[service]
