"""The intake service's composition root: the one place where its parts are wired."""

from fastapi import FastAPI

from services.intake.api import router
from services.intake.app import IntakeApplication
from services.intake.messages import CATALOGUE
from shared.api import create_service_api
from shared.keyring import Keyring
from shared.persistence import Clock, utc_now
from shared.runtime import ServiceRuntime, build_service_runtime
from shared.settings import Settings


def build_runtime(
    settings: Settings,
    env: dict[str, str] | None = None,
    clock: Clock = utc_now,
    keyring: Keyring | None = None,
) -> ServiceRuntime:
    return build_service_runtime(
        "intake", IntakeApplication, CATALOGUE, settings, [], env, clock, keyring
    )


def create_app(runtime: ServiceRuntime) -> FastAPI:
    return create_service_api(
        runtime,
        title="Homeward intake",
        description="Registers children released from armed forces and groups and records "
        "their journey as events on `homeward.intake.events`.",
        routers=[router],
    )
