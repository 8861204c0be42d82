"""Every read model of the three services, rebuilt from the topics into a fresh database after a
journey through the real broker, holds the very rows the live one holds."""

import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from services.followup.service import build_runtime as build_followup
from services.intake.reports.projection import ERASED_CASE, PROFILE_FIELD, stored_cells
from services.intake.service import build_runtime as build_intake
from services.referral.service import build_runtime as build_referral
from shared.kafka import ACCESS_TOPIC, AUDITOR, kafka_connection
from shared.keyring import CaseKeys, Keyring
from shared.rebuild import Progress, RebuildReport, rebuild_read_models
from shared.replay import read_case_messages
from shared.runtime import ServiceRuntime
from tests.conftest import sqlite_store
from tests.running import (
    EVENT_TOPICS,
    CaseInIntake,
    accepted_by_school,
    connected_partner,
    new_agency,
    wait_for,
)
from tests.samples import (
    FAMILY_TRACING_CONSENT,
    TRACING_STARTED,
    registration,
)
from tests.signin import supervisor_headers

BUILDERS = {"intake": build_intake, "referral": build_referral, "followup": build_followup}
# Bookkeeping, not content: when the inbox took a message differs between two runs.
IGNORED_COLUMNS = {"homeward_inbox": {"received_at"}}
# Sealed again with the case's key on each write (a fresh nonce): compared opened.
SEALED_COLUMNS = {
    ("intake_case_list", "sealed_name"): "name",
    ("referral_case_data", "sealed_data"): "registration",
    ("statistics_case_profiles", "sealed_profile"): PROFILE_FIELD,
}
# The statistics' lines of the cases outside the tables: an erased case counts in the one
# or the other, depending on whether its key was still there when it was read.
SET_ASIDE = ("no_consent", "erased")


def contents(runtime: ServiceRuntime, table: str, only: "Journey") -> list[tuple[str, ...]]:
    """The rows of a table about the journey's cases (the session's broker holds other tests'
    messages too: the live consumers, joining late, never read them; a rebuild reads them
    all), sorted, without bookkeeping columns, sealed ones opened."""
    with runtime.database.transaction() as tx:
        columns = [row[1] for row in tx.fetchall(f"PRAGMA table_info({table})")]
        rows = tx.fetchall(f"SELECT * FROM {table}")
    keys = CaseKeys(runtime.application.case_keys.keyring, "test")
    kept = []
    for row in rows:
        values = dict(zip(columns, row, strict=True))
        if "case_id" in values and values["case_id"] not in only.case_ids:
            continue
        if table == "homeward_inbox" and values["event_id"] not in only.message_ids:
            continue
        for name in IGNORED_COLUMNS.get(table, ()):
            del values[name]
        for (sealed_table, column), field in SEALED_COLUMNS.items():
            if sealed_table == table and values[column] not in (None, ERASED_CASE):
                key = keys.for_opening(uuid.UUID(values["case_id"]), "test")
                opened = None if key is None else key.open(field, json.loads(values[column]))
                values[column] = opened
        kept.append(tuple(json.dumps(v, sort_keys=True, default=str) for v in values.values()))
    return sorted(kept)


def statistics_consent(agency: str) -> dict[str, Any]:
    return {
        "given_by": "child_consent",
        "purpose": "statistics",
        "recipients": [agency],
        "categories": ["education"],
        "given_on": "2026-10-04",
    }


@dataclass(frozen=True)
class Journey:
    agency: str  # the journey's own, registering each of its cases
    case_ids: set[str]
    message_ids: set[str]  # of every message about them, on every topic
    erased: int  # of its cases


def statistics_cells(runtime: ServiceRuntime, only: Journey) -> Counter[tuple[str, ...]]:
    """The statistics' counts of the journey's cases: those of its agency."""
    return Counter(
        {
            (table, month, row, column): count
            for (table, month, agency, row, column), count in stored_cells(runtime.database)
            if agency == only.agency
        }
    )


def assert_same_statistics(fresh: ServiceRuntime, live: ServiceRuntime, only: Journey) -> None:
    """The rebuilt counts are the live ones, but for the erased case: the live projection,
    which read it before its erasure, keeps it where it counted (here, without a consent to
    statistics, the "no consent" line); the rebuild, which cannot open it any more, counts it
    in the erased line."""
    rebuilt, kept = statistics_cells(fresh, only), statistics_cells(live, only)
    assert {c: n for c, n in rebuilt.items() if c[0] not in SET_ASIDE} == {
        c: n for c, n in kept.items() if c[0] not in SET_ASIDE
    }
    assert sum(n for c, n in rebuilt.items() if c[0] == "erased") == only.erased
    assert sum(n for c, n in rebuilt.items() if c[0] in SET_ASIDE) == sum(
        n for c, n in kept.items() if c[0] in SET_ASIDE
    )
    assert any(c[0] == "releases_by_age" for c in rebuilt)  # the case that consented


def fresh_runtime(
    service: str, live: ServiceRuntime, folder: Path, keyring: Keyring
) -> ServiceRuntime:
    folder.mkdir()
    return BUILDERS[service](live.settings, sqlite_store(folder), live.application.clock, keyring)


def journey(clock, intake, referral, followup, settings, tmp_path) -> Journey:
    """Several cases: one reunified with a follow-up plan and a referral a partner answers, one
    corrected, one erased."""
    agency = new_agency(settings, intake, referral, followup)
    school = f"SCH-{agency.removeprefix('CD-')}"
    returned = CaseInIntake.register(intake, registration(registering_agency=agency))
    corrected = CaseInIntake.register(intake, registration(registering_agency=agency))
    erased = CaseInIntake.register(intake, registration(registering_agency=agency))
    for child in (returned, corrected):
        child.step("consents", **FAMILY_TRACING_CONSENT)
        child.step("tracing", **TRACING_STARTED)
    returned.step("consents", **statistics_consent(agency))
    clock.to(date(2026, 10, 12))
    returned.safeguarded_return(settings)
    returned.step("reunification", reunified_on="2026-10-12")
    wait_for(lambda: followup.get(f"/plans/{returned.id}").status_code == 200, "the plan")

    partner = connected_partner(referral, settings, school, "education", tmp_path / school)
    try:
        enrolment = accepted_by_school(referral, returned, partner)
        partner.answer(
            "ServiceStarted", referral_id=enrolment["referral_id"], started_on="2026-10-20"
        )
        partner.answer(
            "MilestoneReported",
            referral_id=enrolment["referral_id"],
            milestone="education_enrolled",
            reported_on="2026-10-20",
        )
    finally:
        partner.close()
    wait_for(
        lambda: followup.get(f"/plans/{returned.id}").json()["outcomes"], "the partner's outcome"
    )
    corrected.step("corrections", name="Amani Zawadi", reason="Misspelt at registration.")
    erased.step("erasure", supervisor_headers(settings, agency), reason="caregiver_request")
    wait_for(
        lambda: (
            intake.get(f"/cases?agency={agency}").json()["total"] == 2
            and any(c["name"] == "Amani Zawadi" for c in intake.get("/cases").json()["items"])
        ),
        "the correction and the erasure in the case list",
    )
    wait_for(lambda: all_caught_up(intake, referral, followup), "every consumer at the end")
    case_ids = {returned.id, corrected.id, erased.id}
    # The auditor reads the events; intake, which keeps the access log, reads its topic.
    readers = (
        (kafka_connection(settings, AUDITOR), EVENT_TOPICS),
        (intake.app.state.runtime.kafka, [ACCESS_TOPIC]),
    )
    messages = {
        message.id
        for case_id in case_ids
        for connection, topics in readers
        for message in read_case_messages(connection, topics, uuid.UUID(case_id))
    }
    return Journey(agency, case_ids, messages, erased=1)


def all_caught_up(*services: Any) -> bool:
    health = [s.app.state.runtime.health()["consumers"] for s in services]
    return all(
        sum((c["lag"] or {}).values()) == 0 and not c["last_error"]
        for consumers in health
        for c in consumers.values()
    )


@pytest.mark.parametrize("client", ["kafka-python", "confluent"])
def test_every_read_model_rebuilt_from_the_topics_equals_the_live_one(
    services, settings, tmp_path, client
):
    clock, intake, referral, followup, keyring = services
    made = journey(clock, intake, referral, followup, settings, tmp_path)
    for service, api in (("intake", intake), ("referral", referral), ("followup", followup)):
        live: ServiceRuntime = api.app.state.runtime
        fresh = fresh_runtime(service, live, tmp_path / f"rebuilt-{service}", keyring)
        started = time.monotonic()
        report = rebuild_read_models(live, fresh, client=client, progress=Progress(terminal=False))
        print_figures(report, time.monotonic() - started)
        for model in fresh.read_models:
            for table in model.tables:
                if table == "statistics_cells":  # counts, of no one case
                    assert_same_statistics(fresh, live, made)
                    continue
                assert contents(fresh, table, made) == contents(live, table, made), table
        # The inboxes of the projections too (a command handler's is no read model).
        rebuilt = {model.name for model in fresh.read_models if model.consumer is not None}
        assert [
            row for row in contents(fresh, "homeward_inbox", made) if inbox_of(row, rebuilt)
        ] == [row for row in contents(live, "homeward_inbox", made) if inbox_of(row, rebuilt)]
        fresh.application.close()


def inbox_of(row: tuple[str, ...], consumers: set[str]) -> bool:
    return json.loads(row[0]) in consumers


def print_figures(report: RebuildReport, seconds: float) -> None:
    print(f"\n{report.service} ({report.client}): {report.messages} messages in {seconds:.2f} s")
    for model in report.read_models:
        print(
            f"  {model.name}: {model.rows} rows; {model.messages} messages, {model.applied} "
            f"applied, {model.duplicates} duplicates, {model.refused} refused, "
            f"{model.seconds:.2f} s"
        )
