"""The access log: one record per access, committed before the route answers, concurrent
requests sharing a commit; the break-glass reason sealed with the case's key."""

import threading
import time
import uuid
from datetime import UTC, datetime

import pytest

from shared.access import Caller, Role
from shared.accesslog import CATALOGUE, Access, AccessLog, AccessRecord, Outcome
from shared.application import ServiceApplication
from shared.crypto import is_sealed
from tests.samples import SCHEMAS_AT

CALLER = Caller(sub="sup-7", role=Role.SUPERVISOR, agency="CD-KIN")


def access(case_id: uuid.UUID | None = None, **changes) -> Access:
    fields = {
        "action": "read_case",
        "outcome": Outcome.ALLOWED,
        "route": "GET /cases/{case_id}",
        "purpose": "case management",
        "caller": CALLER,
        "case_id": case_id,
        "client_address": "10.1.2.3",
    } | changes
    return Access(**fields)


@pytest.fixture
def app(case_keys, tmp_path):
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "s")}
    return ServiceApplication(env, lambda: datetime.now(UTC), case_keys)


def recorded(app) -> list:
    return [
        app.mapper.to_domain_event(item)
        for item in app.recorder.select_notifications(start=1, limit=1000)
    ]


def test_an_access_is_committed_when_record_returns(app):
    case_id = uuid.uuid4()
    AccessLog("intake", app.save).record(access(case_id))
    (event,) = recorded(app)
    assert isinstance(event, AccessRecord.AccessRecorded)
    assert (event.case_id, event.accessed_by, event.caller_role) == (case_id, "sup-7", "supervisor")
    assert (event.caller_agency, event.outcome, event.client_address) == (
        "CD-KIN",
        "allowed",
        "10.1.2.3",
    )


def test_a_denial_before_any_token_names_no_one_and_is_published_under_its_own_key(app):
    AccessLog("intake", app.save).record(
        access(caller=None, outcome=Outcome.DENIED, action="list_cases")
    )
    (event,) = recorded(app)
    assert event.accessed_by is None
    message = CATALOGUE.to_cloudevent(event, app, SCHEMAS_AT)
    assert message is not None
    assert message.caseid is None
    assert message.partitionkey == str(event.originator_id)
    assert message.data["outcome"] == "denied"
    CATALOGUE.validate(message)


def test_a_break_glass_reason_is_sealed_with_the_case_key_and_the_record_is_not(app):
    case_id = uuid.uuid4()
    reason = "the child called from a checkpoint at night"
    AccessLog("intake", app.save).record(
        access(case_id, outcome=Outcome.BREAK_GLASS, break_glass_reason=reason)
    )
    stored = app.recorder.select_notifications(start=1, limit=10)
    assert reason.encode() not in b"".join(item.state for item in stored)
    justified = app.mapper.to_sealed_domain_event(stored[1])
    assert is_sealed(justified.reason)
    opened = recorded(app)
    assert opened[1].reason == reason
    message = CATALOGUE.to_cloudevent(opened[0], app, SCHEMAS_AT)
    assert message is not None
    assert message.caseid == str(case_id)
    assert message.data["outcome"] == "break_glass"


def test_concurrent_accesses_share_commits_and_none_is_lost(app):
    commits = []

    def slow_save(*records):
        commits.append(len(records))
        time.sleep(0.02)  # a commit that takes a while, so that requests gather behind it
        return app.save(*records)

    log = AccessLog("intake", slow_save)
    threads = [threading.Thread(target=log.record, args=(access(uuid.uuid4()),)) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(recorded(app)) == sum(commits) == 40
    assert len(commits) < 40  # some requests shared a commit


def test_a_failed_commit_fails_every_request_of_its_batch_and_the_log_goes_on(app):
    failing = True

    def save(*records):
        if failing:
            raise ConnectionError("the database went away")
        return app.save(*records)

    log = AccessLog("intake", save)
    with pytest.raises(ConnectionError):
        log.record(access(uuid.uuid4()))
    failing = False
    log.record(access(uuid.uuid4()))
    assert len(recorded(app)) == 1


def test_break_glass_must_name_its_case():
    with pytest.raises(ValueError, match="name it"):
        access(None, outcome=Outcome.BREAK_GLASS, break_glass_reason="urgent").record("intake")
