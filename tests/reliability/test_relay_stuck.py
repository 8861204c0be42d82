"""A stored event the relay cannot decode holds the relay there, loudly, and loses nothing.

The relay publishes what comes before it, holds its position at it (never skipping it), logs
one ERROR naming it however many rounds fail, and the service's health says so: anonymous
`/healthz` answers "degraded" (200) with no details, `/healthz/details` names the position and
the error. Once the stored row is repaired, the relay publishes the rest, each event once."""

import logging
import sqlite3
import time
import uuid

from fastapi.testclient import TestClient

from services.intake.service import build_runtime, create_app
from tests.conftest import as_admin
from tests.integration.test_outbox_relay import INTAKE_TOPIC, register_without_relay
from tests.partner import as_json, read_messages
from tests.running import wait_for
from tests.signin import admin_headers


def test_an_undecodable_stored_event_holds_the_relay_loudly_and_nothing_is_lost(
    settings, sqlite_env, caplog
):
    runtime = build_runtime(settings, sqlite_env)
    before, broken, after = (register_without_relay(runtime) for _ in range(3))
    store = sqlite3.connect(sqlite_env["SQLITE_DBNAME"])
    notification_id, state = store.execute(
        "SELECT rowid, state FROM stored_events WHERE originator_id = ? AND originator_version = 1",
        (uuid.UUID(broken).hex,),  # as the library stores ids
    ).fetchone()
    store.execute(
        "UPDATE stored_events SET state = ? WHERE rowid = ?",
        (b"not what the mapper wrote", notification_id),
    )
    store.commit()
    caplog.set_level(logging.INFO, logger="homeward.outbox")

    with TestClient(create_app(runtime)) as intake:
        wait_for(lambda: runtime.relay.stuck is not None, "the relay to hold", 30)
        time.sleep(1)  # some twenty rounds of the relay, every one failing
        anonymous = intake.get("/healthz")
        details = intake.get("/healthz/details", headers=admin_headers(settings))
        while_stuck = {
            case_id: read_messages(as_admin(settings), INTAKE_TOPIC, key=case_id, timeout=2)
            for case_id in (before, broken, after)
        }
        held = runtime.relay.lag()

        store.execute(
            "UPDATE stored_events SET state = ? WHERE rowid = ?", (state, notification_id)
        )
        store.commit()
        wait_for(lambda: runtime.relay.lag() == 0, "the relay to go on", 30)
        healed = intake.get("/healthz")
    store.close()

    assert anonymous.status_code == 200
    assert anonymous.json() == {"status": "degraded"}
    assert details.status_code == 200
    report = details.json()
    assert report["status"] == "degraded"
    assert report["relay"]["stuck_at"] == notification_id
    assert report["relay"]["position"] == notification_id - 1
    assert report["relay"]["stuck_error"].startswith("MapperDeserialisationError")
    # The access log's relay publishes no case event, so it never decodes one: not held.
    assert [relay["stuck_at"] for relay in report["other_relays"].values()] == [None]
    assert len(while_stuck[before]) == 2
    assert while_stuck[broken] == while_stuck[after] == []
    errors = [
        r for r in caplog.records if r.name == "homeward.outbox" and r.levelno >= logging.ERROR
    ]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert f"notification {notification_id}" in errors[0].getMessage()
    assert any("publishes again" in r.getMessage() for r in caplog.records)
    assert healed.json() == {"status": "up"}
    assert runtime.relay.stuck is None

    # Everything on the topic, for a few seconds: a copy too many would show.
    on_topic = read_messages(as_admin(settings), INTAKE_TOPIC, expect=10**6, timeout=5)
    published = {
        case_id: [as_json(r)["id"] for r in on_topic if r.key == case_id.encode()]
        for case_id in (before, broken, after)
    }
    for case_id, ids in published.items():
        assert len(ids) == len(set(ids)) == 2, case_id  # ChildRegistered and HandedOver, once
    print(
        f"stored 6 published events, 1 undecodable: published before it 2, held {held} "
        "notifications, ERROR lines 1; repaired: published 6, lost 0, published twice 0"
    )
