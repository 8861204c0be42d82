"""The follow-up service's composition root: the one place where its parts are wired."""

from fastapi import FastAPI

from services.followup.api import router
from services.followup.app import FollowUpApplication
from services.followup.handlers import on_intake_event
from services.followup.messages import CATALOGUE
from services.followup.projections import FollowUpViews
from shared.api import create_service_api
from shared.kafka import event_topic
from shared.keyring import Keyring
from shared.persistence import Clock, utc_now
from shared.runtime import ServiceRuntime, Subscription, build_service_runtime
from shared.settings import Settings


def build_runtime(
    settings: Settings,
    env: dict[str, str] | None = None,
    clock: Clock = utc_now,
    keyring: Keyring | None = None,
) -> ServiceRuntime:
    runtime = build_service_runtime(
        "followup", FollowUpApplication, CATALOGUE, settings, env, clock, keyring
    )
    application = runtime.application
    assert isinstance(application, FollowUpApplication)
    views = FollowUpViews(runtime.database)
    runtime.views = views
    runtime.subscribe(
        Subscription(
            [event_topic("intake")],
            handler=views.apply_intake_event,
            command_handler=on_intake_event(application, views),
            name="homeward.followup.intake",
            tables=("followup_cases",),
            # The agency of an erased case stays (its cancelled plan is answered within it).
            erased_cases_in_clear=True,
        )
    )
    runtime.subscribe(
        Subscription(
            [event_topic("referral")],
            handler=views.apply_referral_event,
            name="homeward.followup.outcomes",
            tables=("followup_referrals", "followup_outcomes"),
        )
    )
    runtime.subscribe(
        Subscription(
            [event_topic("followup")],
            handler=views.apply_own_event,
            name="homeward.followup.visits",
            tables=("followup_visits", "followup_alerts"),
        )
    )
    return runtime


def create_app(runtime: ServiceRuntime) -> FastAPI:
    return create_service_api(
        runtime,
        title="Homeward follow-up",
        description="Plans and records follow-up visits for years after a child returns, and "
        "keeps the child's education and livelihood outcomes in one place.",
        routers=[router],
    )
