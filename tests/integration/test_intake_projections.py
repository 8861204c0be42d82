"""The case list, the overdue list and the statistics by stage, kept from
`homeward.intake.events`: filters and pages on SQLite and PostgreSQL, sealed names opened only
when asked, erasure, and a rebuild from the topic."""

import uuid
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient

from services.intake.projections import CaseFilter
from services.intake.service import build_runtime, create_app
from shared.privacy import open_fields
from shared.rebuild import rebuild_read_models, swap_in
from tests.conftest import postgres_store, sqlite_store
from tests.integration.test_intake_journey import MovableClock, agency, wait_until
from tests.samples import boy_formally_released, person_of_uncertain_age, registration
from tests.signin import supervisor_headers

START = datetime(2026, 10, 4, 12, 0, tzinfo=UTC)


def listed(client: TestClient, agency_code: str, **filters) -> dict:
    response = client.get("/cases", params={"agency": agency_code, **filters})
    assert response.status_code == 200, response.text
    return response.json()


def register(client: TestClient, body: dict) -> dict:
    response = client.post("/cases", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_the_case_list_filters_and_pages_what_kafka_carried(settings, event_store_env):
    clock = MovableClock(START)
    runtime = build_runtime(settings, event_store_env, clock=clock)
    code = agency()
    with TestClient(create_app(runtime), headers=supervisor_headers(settings, code)) as client:
        girl = register(client, registration(registering_agency=code))
        boy = register(client, boy_formally_released(registering_agency=code))
        adult = register(client, person_of_uncertain_age(registering_agency=code))
        response = client.post(
            f"/cases/{adult['case_id']}/risk-level",
            json={
                "version": adult["version"],
                "level": "medium",
                "reason": "Threats from former commanders.",
                "set_at": "2026-10-04T11:00:00Z",
            },
        )
        assert response.status_code == 200, response.text
        response = client.post(
            f"/cases/{girl['case_id']}/assignment",
            json={
                "version": girl["version"],
                "caseworker": "cw-0977",
                "assigned_on": "2026-10-04",
            },
        )
        assert response.status_code == 200, response.text
        assert wait_until(lambda: listed(client, code)["total"] == 3)
        assert wait_until(lambda: listed(client, code, risk="medium")["total"] == 1)
        assert wait_until(lambda: listed(client, code, caseworker="cw-0977")["total"] == 1)

        everything = listed(client, code)
        assert [case["case_id"] for case in everything["items"]] == [
            adult["case_id"],
            boy["case_id"],
            girl["case_id"],
        ]  # newest registration first
        assert everything["items"][2]["name"] == "Amani Zawadi-Kuvuka"
        first, second = listed(client, code, limit=2), listed(client, code, limit=2, offset=2)
        assert [len(first["items"]), len(second["items"])] == [2, 1]
        assert first["total"] == second["total"] == 3
        assert [c["case_id"] for c in listed(client, code, stage="registered")["items"]] == [
            boy["case_id"]
        ]
        assert listed(client, code, risk="medium")["items"][0]["case_id"] == adult["case_id"]
        assert listed(client, code, caseworker="cw-0977")["items"][0]["case_id"] == girl["case_id"]
        # The boy's handover (released 1 October) is overdue; no one else's deadline is yet.
        overdue = listed(client, code, overdue=True)
        assert [(c["case_id"], c["overdue"]) for c in overdue["items"]] == [
            (boy["case_id"], ["handover"])
        ]
        assert listed(client, code, overdue=False)["total"] == 2

        clock.advance(days=3)  # the adult's medium risk (3 days) has had no response
        overdue = client.get("/cases/overdue", params={"agency": code}).json()
        assert [(item["case_id"], item["kind"]) for item in overdue] == [
            (boy["case_id"], "handover"),
            (adult["case_id"], "risk_response"),
        ]  # the longest overdue first
        assert overdue[1]["overdue_hours"] == 1.0
        assert "name" not in overdue[0]

        stages = client.get("/statistics/stages", params={"agency": code}).json()
        assert stages["total"] == 3
        assert stages["stages"]["handed_over"] == 2
        assert stages["stages"]["registered"] == 1
        assert stages["stages"]["reunified"] == 0
        assert client.get("/cases", params={"stage": "nowhere"}).status_code == 422
        assert client.get("/cases", params={"limit": 0}).status_code == 422


def test_an_erased_case_leaves_the_list_live_and_after_a_rebuild_from_the_topic(
    settings, event_store_env, tmp_path, request
):
    runtime = build_runtime(settings, event_store_env, clock=lambda: START)
    code = agency()
    with TestClient(create_app(runtime), headers=supervisor_headers(settings, code)) as client:
        kept = register(client, registration(registering_agency=code))
        erased = register(client, boy_formally_released(registering_agency=code))
        assert wait_until(lambda: listed(client, code)["total"] == 2)
        names = {c["case_id"]: c["name"] for c in listed(client, code)["items"]}
        assert names[erased["case_id"]] == "Esaie Bahati Mugisho"

        response = client.post(
            f"/cases/{erased['case_id']}/erasure",
            json={"version": erased["version"], "reason": "child_request"},
        )
        assert response.status_code == 200, response.text

        def names_now() -> dict[str, str]:
            return {c["case_id"]: c["name"] for c in listed(client, code)["items"]}

        assert wait_until(lambda: erased["case_id"] not in names_now())
        assert names_now()[kept["case_id"]] == "Amani Zawadi-Kuvuka"
        refused = client.post(
            f"/cases/{erased['case_id']}/assignment",
            json={
                "version": erased["version"] + 1,
                "caseworker": "cw-2",
                "assigned_on": "2026-10-04",
            },
        )
        assert refused.status_code == 409
        assert "erased" in refused.json()["detail"]
        timeline = client.get(f"/cases/{erased['case_id']}/timeline").json()
        assert timeline[0]["type"] == "org.homeward.intake.CaseErased.v1"
        assert timeline[-1]["data"]["name"] == "[erased]"

        # A damaged row (here: a wrong stage) is put right by rebuilding from the topic.
        with runtime.database.transaction() as tx:
            tx.execute(
                "UPDATE intake_case_list SET stage = 'closed' WHERE case_id = ?",
                (kept["case_id"],),
            )
        assert listed(client, code, stage="closed")["total"] == 1
        # Rebuilt into a fresh database of the same kind (SQLite, or PostgreSQL), swapped in.
        if event_store_env["PERSISTENCE_MODULE"] == "eventsourcing.postgres":
            fresh_store = postgres_store(request.getfixturevalue("postgres_cluster"))
        else:
            (tmp_path / "rebuilt").mkdir()
            fresh_store = sqlite_store(tmp_path / "rebuilt")
        keyring = runtime.application.case_keys.keyring
        fresh = build_runtime(settings, fresh_store, keyring=keyring)
        swap_in(runtime, fresh, rebuild_read_models(runtime, fresh, ["projections"]))
        assert wait_until(
            lambda: (
                [c["case_id"] for c in listed(client, code, stage="handed_over")["items"]]
                == [kept["case_id"]]
            )
        )
        assert listed(client, code, stage="closed")["total"] == 0
        assert wait_until(lambda: listed(client, code)["total"] == 1, timeout=30)
        assert names_now() == {kept["case_id"]: "Amani Zawadi-Kuvuka"}

    fresh.application.close()
    runtime.application.close()
    if event_store_env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite":
        stored = Path(event_store_env["SQLITE_DBNAME"]).read_bytes()
        assert b"Amani" not in stored  # names are kept sealed, in the list as in the store


def test_a_message_seen_again_after_a_newer_one_never_rewinds_the_row(settings, sqlite_env):
    runtime = build_runtime(settings, sqlite_env, clock=lambda: START)
    code = agency()
    # No lifespan: the test feeds the projection.
    client = TestClient(create_app(runtime), headers=supervisor_headers(settings, code))
    case = register(client, registration(registering_agency=code, handover=None))
    case_id = uuid.UUID(case["case_id"])
    application = runtime.application
    projections = application.projections
    for event in application.history(case_id):
        with runtime.database.transaction() as tx:
            projections.apply(application_message(runtime, event), tx)
    response = client.post(
        f"/cases/{case_id}/handover",
        json={
            "version": 1,
            "from_actor": "FARDC",
            "to_agency": "CD-KIN",
            "at": "2026-10-04T09:00:00Z",
        },
    )
    assert response.status_code == 200, response.text
    registered, handed_over = application.history(case_id)
    for event in (handed_over, registered, handed_over):
        with runtime.database.transaction() as tx:
            projections.apply(application_message(runtime, event), tx)
    rows = projections.cases(CaseFilter(), limit=10**6, offset=0).items
    (row,) = [r for r in rows if r.case_id == str(case_id)]
    assert row.stage == "handed_over"
    assert row.version == 2
    runtime.application.close()


def application_message(runtime, event):
    """The event's message as the projection's consumer hands it over: opened."""
    message = runtime.catalogue.to_cloudevent(event, runtime.application, runtime.relay.schemas_at)
    assert message is not None
    key = runtime.application.case_keys.for_opening(event.originator_id, "test")
    return message.model_copy(update={"data": open_fields(message.data, key)})
