"""The intake service's composition root: the one place where its parts are wired."""

from fastapi import FastAPI

from services.intake.api import router, statistics
from services.intake.app import IntakeApplication
from services.intake.audit import audit
from services.intake.handlers import on_followup_event
from services.intake.messages import CATALOGUE
from services.intake.programme import Programme
from services.intake.projections import PROJECTIONS_CONSUMER, CaseProjections
from services.intake.reports.api import reports
from services.intake.reports.projection import StatisticsProjection
from services.intake.reports.tables import ReportSettings
from services.intake.steps import journey
from shared.accesslog import AccessLogView
from shared.api import create_service_api
from shared.caseindex import CaseOffsetIndex, KeyReader
from shared.kafka import ACCESS_TOPIC, AUDITOR, event_topic, kafka_connection
from shared.keyring import Keyring
from shared.persistence import Clock, utc_now
from shared.runtime import ServiceRuntime, Subscription, build_service_runtime
from shared.settings import Settings


def build_runtime(
    settings: Settings,
    env: dict[str, str] | None = None,
    clock: Clock = utc_now,
    keyring: Keyring | None = None,
    programme: Programme | None = None,
) -> ServiceRuntime:
    runtime = build_service_runtime(
        "intake", IntakeApplication, CATALOGUE, settings, env, clock, keyring
    )
    application = runtime.application
    assert isinstance(application, IntakeApplication)
    programme = programme or Programme()
    read_models = CaseProjections(runtime.database, application.case_keys, programme, clock)
    statistics = StatisticsProjection(
        runtime.database, application.case_keys, ReportSettings().coarsening(), programme
    )
    application.attach_read_models(programme, read_models, statistics)
    runtime.jobs.append(application.key_shredder)
    # The case list is kept from the service's own topic, like any other consumer's view:
    # what is on Kafka is what the list shows, and a replay rebuilds it.
    runtime.subscribe(
        Subscription(
            [event_topic("intake")],
            read_models.apply,
            name=PROJECTIONS_CONSUMER,
            tables=("intake_case_list",),
        )
    )
    # Every service's access log, for the auditors' questions (services.intake.audit).
    runtime.access_view = AccessLogView(runtime.database)
    # Derived from Kafka alone, so the service's database may hold it beside the log.
    runtime.case_index = CaseOffsetIndex(runtime.database)
    # Read as the auditors' principal: a history spans every service's topic.
    runtime.case_reader = KeyReader(kafka_connection(settings, AUDITOR))
    runtime.subscribe(
        Subscription(
            [ACCESS_TOPIC],
            runtime.access_view.apply,
            name="homeward.intake.access",
            tables=("audit_access",),
        )
    )
    runtime.subscribe(
        Subscription(
            [event_topic("followup")],
            command_handler=on_followup_event(application),
            name="homeward.intake.followup-alerts",
        )
    )
    # The programme reports' counts, kept from the three event topics as they come.
    runtime.subscribe(statistics.subscription())
    return runtime


def create_app(runtime: ServiceRuntime) -> FastAPI:
    return create_service_api(
        runtime,
        title="Homeward intake",
        description="Registers children released from armed forces and groups and records "
        "their journey, from release to reunification or alternative care, as events on "
        "`homeward.intake.events`; keeps the case list, the overdue list and the statistics "
        "by stage from that topic, and the programme reports' counts from the three event "
        "topics.",
        routers=[router, journey, statistics, audit, reports],
    )
