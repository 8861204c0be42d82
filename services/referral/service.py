"""The referral service's composition root: the one place where its parts are wired."""

from uuid import UUID

from fastapi import FastAPI

from services.referral.api import router
from services.referral.app import ReferralApplication
from services.referral.asyncapi import asyncapi_document, referenced_schemas
from services.referral.domain import partner_referrals_topic
from services.referral.handlers import REPLIES_PATTERN, on_intake_event, on_partner_reply
from services.referral.index import ReferralIndex
from services.referral.messages import CATALOGUE, PARTNER_ANSWERS, PARTNER_CATALOGUE
from services.referral.partners import ensure_partner_topics
from services.referral.projections import IntakeView
from services.referral.replykey import ReplyKey
from shared.api import create_service_api
from shared.envelope import CloudEvent
from shared.kafka import PARTNER_TOPIC_PREFIX, event_topic
from shared.keyring import Keyring, load_master_key
from shared.outbox import Producer
from shared.persistence import Clock, utc_now
from shared.runtime import (
    PeriodicJob,
    ReadModel,
    ServiceRuntime,
    Subscription,
    build_service_runtime,
)
from shared.settings import Settings

EXPIRY_SWEEP_SECONDS = 30.0  # unanswered referrals, and consents that expired or were withdrawn


def build_runtime(
    settings: Settings,
    env: dict[str, str] | None = None,
    clock: Clock = utc_now,
    keyring: Keyring | None = None,
) -> ServiceRuntime:
    runtime = build_service_runtime(
        "referral", ReferralApplication, CATALOGUE, settings, env, clock, keyring
    )
    application = runtime.application
    assert isinstance(application, ReferralApplication)
    view = IntakeView(runtime.database, application.case_keys)
    application.attach_intake_view(view)
    application.attach_index(ReferralIndex(runtime.database, application))
    # The index is the one read model kept from the service's own notification log.
    runtime.read_models.append(
        ReadModel(
            "homeward.referral.index",
            ("referral_index", "referral_index_position"),
            from_store=lambda store, database: ReferralIndex(database, store).catch_up(),
        )
    )
    application.attach_reply_key(ReplyKey.of_service(runtime.database, load_master_key(settings)))
    runtime.serve_schemas(PARTNER_ANSWERS)  # what partners send it
    # The AsyncAPI document it serves refers to the schemas beside it: the auditors' too.
    runtime.serve_schemas(referenced_schemas(asyncapi_document()))
    runtime.subscribe(
        Subscription(
            [event_topic("intake")],
            handler=view.apply,
            command_handler=on_intake_event(application),
            name="homeward.referral.intake",
            tables=("referral_consents", "referral_case_data"),
        )
    )
    runtime.subscribe(
        Subscription(
            [],
            command_handler=on_partner_reply(application),
            name="homeward.referral.replies",
            pattern=REPLIES_PATTERN,
            pattern_prefix=PARTNER_TOPIC_PREFIX,
        )
    )

    def partner_producer() -> Producer:
        ensure_partner_topics(runtime.kafka, application.partner_agencies())
        return runtime.reliable_producer("partner-relay")

    def partner_topic(message: CloudEvent) -> str:
        referral = application.get_referral(UUID(message.data["referral_id"]))
        return partner_referrals_topic(referral.agency)

    runtime.add_relay(
        PARTNER_CATALOGUE,
        "partners",
        partner_producer,
        route=partner_topic,
        route_prefix=PARTNER_TOPIC_PREFIX,
    )
    runtime.jobs.append(
        PeriodicJob("referral-expiry", EXPIRY_SWEEP_SECONDS, application.expire_unanswered)
    )
    runtime.jobs.append(
        PeriodicJob(
            "referral-lapsed-consents",
            EXPIRY_SWEEP_SECONDS,
            application.withdraw_data_of_lapsed_consents,
        )
    )
    return runtime


def create_app(runtime: ServiceRuntime) -> FastAPI:
    return create_service_api(
        runtime,
        title="Homeward referral",
        description="Sends consented referrals to partner agencies over Kafka and records "
        "their answers, given on Kafka or over HTTP.",
        routers=[router],
    )
