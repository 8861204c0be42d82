"""The follow-up service's composition root. For now it follows the intake topic and says what
it saw; follow-up plans and visits come with its own issue."""

from fastapi import FastAPI

from services.followup.app import FollowUpApplication
from shared.api import create_service_api
from shared.kafka import event_topic
from shared.keyring import Keyring
from shared.persistence import Clock, utc_now
from shared.publishing import EventCatalogue
from shared.runtime import ServiceRuntime, Subscription, build_service_runtime, log_what_was_seen
from shared.settings import Settings


def build_runtime(
    settings: Settings,
    env: dict[str, str] | None = None,
    clock: Clock = utc_now,
    keyring: Keyring | None = None,
) -> ServiceRuntime:
    intake = Subscription([event_topic("intake")], log_what_was_seen("followup"))
    return build_service_runtime(
        "followup",
        FollowUpApplication,
        EventCatalogue("followup"),
        settings,
        [intake],
        env,
        clock,
        keyring,
    )


def create_app(runtime: ServiceRuntime) -> FastAPI:
    return create_service_api(
        runtime,
        title="Homeward follow-up",
        description="Plans and records follow-up visits after a child returns home.",
        routers=[],
    )
