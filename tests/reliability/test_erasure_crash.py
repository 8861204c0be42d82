"""Erasure survives a crash at each of its steps: the fact is recorded first, then the key is
destroyed, and a service restarted on the same stores finishes what the dead one began.

Each crash is injected where the process would die (an exception nothing catches), then the
dead application is dropped and a fresh service is started on the same event store and
keyring. After recovery: the key is gone, `CaseErased` is recorded once, and every personal
field reads `[erased]`, in the case and in its timeline (which opens the stored events with
the keyring, so it shows whether the key is really gone). A keyring outage during erasure
leaves it recorded for the shredder to finish, and a step that read the case before its
erasure is refused with 409, never a 500."""

import sqlite3
import uuid

import pytest
from fastapi.testclient import TestClient

from services.intake.domain import ChildCase, ErasureReason
from services.intake.service import build_runtime, create_app
from shared.keyring import open_keyring
from tests.integration.test_outbox_relay import register_without_relay
from tests.integration.test_privacy import distinctive
from tests.running import wait_for
from tests.signin import supervisor_headers


class ProcessDied(BaseException):
    """The process ends here: like a kill, nothing in it catches this."""


def dies(*_args, **_kwargs):
    raise ProcessDied


# Where the process dies: the call that never returns, and what is true on disk then
# (CaseErased recorded, the key still there).
CRASH_POINTS = {
    "before CaseErased is recorded": (lambda application: (application, "save"), 0, True),
    "after CaseErased, before the key is destroyed": (
        lambda application: (application.case_keys.keyring, "destroy"),
        1,
        True,
    ),
    "after the key is destroyed, before the shredder records it": (
        lambda application: (application.key_shredder._tracking, "insert_tracking"),
        1,
        False,
    ),
}


def key_of(settings, case_id: str):
    return open_keyring(settings).unwrap(uuid.UUID(case_id), service="test", purpose="check")


def erasures_recorded(application, case_id: str) -> int:
    history = application.history(uuid.UUID(case_id))
    return sum(isinstance(event, ChildCase.CaseErased) for event in history)


def erase(intake: TestClient, case_id: str):
    version = intake.get(f"/cases/{case_id}").json()["version"]
    return intake.post(
        f"/cases/{case_id}/erasure", json={"version": version, "reason": "child_request"}
    )


@pytest.mark.parametrize("crash_point", CRASH_POINTS)
def test_an_erasure_cut_short_by_a_crash_is_finished_on_restart(
    settings, sqlite_env, monkeypatch, crash_point
):
    child = distinctive("crash")
    del child["body"]["caseworker"]  # registered by a caseworker: the case is its own
    first = build_runtime(settings, sqlite_env)
    case_id = register_without_relay(first, child["body"])
    assert key_of(settings, case_id) is not None
    dying_call, recorded_at_crash, key_alive_at_crash = CRASH_POINTS[crash_point]
    target, name = dying_call(first.application)
    monkeypatch.setattr(target, name, dies)
    version = first.application.get_case(uuid.UUID(case_id)).version
    with pytest.raises(ProcessDied):
        first.application.erase_case(
            uuid.UUID(case_id), version, ErasureReason.CHILD_REQUEST, "sup-07"
        )
    monkeypatch.undo()
    first.application.close()  # what is committed stays; the process is gone

    restarted = build_runtime(settings, sqlite_env)
    assert erasures_recorded(restarted.application, case_id) == recorded_at_crash
    assert (key_of(settings, case_id) is not None) == key_alive_at_crash
    with TestClient(create_app(restarted), headers=supervisor_headers(settings)) as intake:
        if recorded_at_crash == 0:  # no fact, so the key stayed: the supervisor asks again
            assert erase(intake, case_id).status_code == 200
        wait_for(
            lambda: not restarted.application.key_shredder.pending(), "the shredder to catch up"
        )
        case = intake.get(f"/cases/{case_id}").json()
        timeline = intake.get(f"/cases/{case_id}/timeline")
        again = erase(intake, case_id)
        recorded = erasures_recorded(restarted.application, case_id)

    assert key_of(settings, case_id) is None
    assert recorded == 1
    assert case["erased"] is True
    assert case["name"] == case["release_place"] == case["notes"] == "[erased]"
    registered = next(e for e in timeline.json() if e["type"].endswith("ChildRegistered.v2"))
    assert registered["data"]["name"] == registered["data"]["release_place"] == "[erased]"
    assert child["marker"] not in timeline.text
    assert again.status_code == 409
    print(
        f"crash {crash_point}: at the crash CaseErased {recorded_at_crash}, key alive "
        f"{int(key_alive_at_crash)}; after recovery CaseErased 1, key alive 0, fields opened 0"
    )


def test_a_keyring_outage_during_erasure_leaves_it_recorded_and_the_shredder_finishes(
    settings, sqlite_env, monkeypatch
):
    child = distinctive("keyring")
    runtime = build_runtime(settings, sqlite_env)
    keyring = runtime.application.case_keys.keyring
    destroy = keyring.destroy
    refusals = {"left": 3}

    def keyring_unavailable(case_id):
        if refusals["left"]:
            refusals["left"] -= 1
            raise sqlite3.OperationalError("database is locked")
        destroy(case_id)

    app = create_app(runtime)
    with TestClient(
        app, headers=supervisor_headers(settings), raise_server_exceptions=False
    ) as intake:
        case_id = intake.post("/cases", json=child["body"]).json()["case_id"]
        monkeypatch.setattr(keyring, "destroy", keyring_unavailable)
        outage = erase(intake, case_id)
        wait_for(lambda: key_of(settings, case_id) is None, "the shredder to destroy the key")
        retried = erase(intake, case_id)
        case = intake.get(f"/cases/{case_id}").json()
        recorded = erasures_recorded(runtime.application, case_id)

    assert outage.status_code == 500  # the outage, as for any store; the erasure stands
    assert child["marker"] not in outage.text
    assert retried.status_code == 409
    assert "erased" in retried.json()["detail"]
    assert case["name"] == "[erased]"
    assert refusals["left"] == 0
    assert recorded == 1
    print("keyring refused 3 times: erasure recorded 1, key destroyed by the shredder")


def test_a_step_that_read_the_case_before_its_erasure_is_refused_with_409(
    settings, sqlite_env, monkeypatch
):
    runtime = build_runtime(settings, sqlite_env)
    with TestClient(create_app(runtime), headers=supervisor_headers(settings)) as intake:
        case_id = intake.post("/cases", json=distinctive("race")["body"]).json()["case_id"]
        read_before = runtime.application.get_case(uuid.UUID(case_id))
        assert erase(intake, case_id).status_code == 200
        # The step read the case just before the erasure committed; it saves after the key
        # is gone, so sealing its fields finds the case erased in the keyring.
        monkeypatch.setattr(runtime.application, "case_at_version", lambda *_args: read_before)
        step = intake.post(
            f"/cases/{case_id}/risk-level",
            json={
                "version": read_before.version,
                "level": "high",
                "reason": "threat reported",
                "set_at": "2026-10-05T10:00:00+02:00",
            },
        )
        recorded = erasures_recorded(runtime.application, case_id)
    assert step.status_code == 409, step.text
    assert step.json()["detail"] == (
        f"case {case_id} is erased: nothing more can be recorded about it"
    )
    assert recorded == 1
