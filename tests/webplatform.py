"""The platform behind the forms, for the browser tests: the three services and the forms,
each served over real HTTP by uvicorn (in this process, on ports of their own), on the real
broker, so that a browser talks to the forms and the forms to the services as in production."""

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.followup.service import build_runtime as build_followup
from services.followup.service import create_app as followup_api
from services.intake.service import build_runtime as build_intake
from services.intake.service import create_app as intake_api
from services.referral.service import build_runtime as build_referral
from services.referral.service import create_app as referral_api
from services.web.service import build_runtime as build_web
from services.web.service import create_app as web_api
from services.web.settings import WebSettings
from shared.keyring import open_keyring
from shared.settings import Settings
from tests.running import sqlite_stores
from tests.signin import staff_headers


@contextmanager
def served(app: FastAPI, port: int) -> Iterator[None]:
    """``app`` on 127.0.0.1:``port`` until the block ends (its lifespan runs: relays and
    consumers start and stop with it)."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), f"the server on port {port} stopped"
        assert time.monotonic() < deadline, f"port {port} did not open"
        time.sleep(0.05)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@dataclass
class FormsPlatform:
    settings: WebSettings
    referral: TestClient  # in process, without a lifespan of its own: an admin's calls
    intake: TestClient
    followup_app: FastAPI

    def followup(self, agency: str) -> TestClient:
        """The follow-up service, in process, as a caseworker of ``agency``."""
        return TestClient(self.followup_app, headers=staff_headers(self.settings, agency=agency))

    @property
    def url(self) -> str:
        return self.settings.service_url("web")

    def intake_events(self, case_id: str) -> list[str]:
        """The facts recorded about a case, oldest first, by name: what the event store holds."""
        runtime = self.intake.app.state.runtime  # type: ignore[attr-defined]
        history = runtime.application.history(uuid.UUID(case_id))
        return [type(event).__name__ for event in history]


def free_port() -> int:
    """A port nothing listens on now (each service must know the others' before they start,
    so the system cannot choose as they bind)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def forms_platform(settings: Settings, folder: Path) -> Iterator[FormsPlatform]:
    ports = {name: free_port() for name in ("intake", "referral", "followup", "web")}
    web = WebSettings(
        **{**settings.model_dump(), **{f"{name}_port": port for name, port in ports.items()}}
    )
    store_env = sqlite_stores(folder)
    keyring = open_keyring(web, store_env("keyring"))
    runtimes = {
        "intake": build_intake(web, store_env("intake"), keyring=keyring),
        "referral": build_referral(web, store_env("referral"), keyring=keyring),
        "followup": build_followup(web, store_env("followup"), keyring=keyring),
    }
    apps = {
        "intake": intake_api(runtimes["intake"]),
        "referral": referral_api(runtimes["referral"]),
        "followup": followup_api(runtimes["followup"]),
    }
    with ExitStack() as stack:
        for name, app in apps.items():
            stack.enter_context(served(app, ports[name]))
        stack.enter_context(served(web_api(build_web(web)), web.web_port))
        assert httpx.get(f"{web.service_url('web')}/healthz", timeout=5).status_code == 200
        yield FormsPlatform(
            web, TestClient(apps["referral"]), TestClient(apps["intake"]), apps["followup"]
        )
