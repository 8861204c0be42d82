"""Partners receive consented referrals on Kafka and answer them; consent gates every share.

The partner side is written here with a plain kafka-python client, as a partner would,
using nothing of the project's code but the published topic names and schemas, and opening
what is sealed to it with the partner's guide's own lines.
"""

import base64
import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from kafka import KafkaProducer

from services.intake.service import build_runtime as build_intake
from services.intake.service import create_app as intake_api
from services.referral.messages import CATALOGUE as REFERRAL_EVENTS
from services.referral.messages import PARTNER_CATALOGUE
from services.referral.service import build_runtime as build_referral
from services.referral.service import create_app as referral_api
from shared.envelope import CloudEvent
from shared.keyring import open_keyring
from tests.conftest import as_admin, sqlite_store
from tests.partner import (
    PartnerLogin,
    answer_document,
    as_json,
    opened_data,
    partner_keys,
    read_messages,
    register_partner,
    run_guide,
)
from tests.samples import registration
from tests.signin import admin_headers, partner_headers, staff_headers, supervisor_headers


class MovableClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock():
    return MovableClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))


@pytest.fixture
def platform(settings, tmp_path, clock):
    """Intake and referral, each with its own event store, sharing the platform's keyring."""
    keyring = open_keyring(settings)
    (tmp_path / "intake").mkdir()
    (tmp_path / "referral").mkdir()
    intake = build_intake(settings, sqlite_store(tmp_path / "intake"), clock, keyring)
    referral = build_referral(settings, sqlite_store(tmp_path / "referral"), clock, keyring)
    with (
        TestClient(intake_api(intake), headers=staff_headers(intake.settings)) as intake_client,
        TestClient(
            referral_api(referral), headers=staff_headers(referral.settings)
        ) as referral_client,
    ):
        yield intake_client, referral_client, referral


def unique_agency(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6].upper()}"


def wait_until(condition, timeout: float = 30, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def register_case_with_consent(
    intake,
    referral_runtime,
    agency: str,
    categories: list[str],
    expires_on: str | None = None,
    **registered,
):
    case = intake.post("/cases", json=registration() | registered).json()
    consented = intake.post(
        f"/cases/{case['case_id']}/consents",
        json={
            "version": case["version"],
            "given_by": "child_consent",
            "purpose": "education",
            "recipients": [agency],
            "categories": categories,
            "given_on": "2026-11-20",
            "expires_on": expires_on,
        },
    )
    assert consented.status_code == 201, consented.text
    case_id = uuid.UUID(case["case_id"])
    view = referral_runtime.application.intake
    wait_until(
        lambda: view.consents(case_id) and view.case_data(case_id, "test"), what="consent seen"
    )
    return consented.json()


def education_referral(case_id: str, agency: str, **changes) -> dict:
    return {
        "case_id": case_id,
        "agency": agency,
        "service": "education",
        "purpose": "education",
        "categories": ["identity"],
        **changes,
    }


def answer(partner: PartnerLogin, type_name: str, data: dict, **envelope) -> str:
    """A partner's answer: a CloudEvent produced to its own replies topic, signed in as the
    partner; returns its id."""
    agency = partner.username
    document = answer_document(agency, type_name, data, **envelope)
    producer = KafkaProducer(**partner.kafka_python())
    producer.send(f"homeward.partner.{agency}.replies", value=document).get(timeout=10)
    producer.close()
    message_id: str = json.loads(document)["id"]
    return message_id


def test_partners_receive_only_consented_fields_and_answer_on_kafka(platform, settings, tmp_path):
    intake, referrals, referral_runtime = platform
    school, training = unique_agency("SCH"), unique_agency("VOC")
    school_keys = tmp_path / "school-keys"
    bootstrap = settings.kafka_bootstrap
    school_login = register_partner(
        referrals, bootstrap, school, "education", school_keys, "Ecole de la Paix"
    )
    training_login = register_partner(
        referrals,
        bootstrap,
        training,
        "vocational_training",
        tmp_path / "training-keys",
        "Atelier Couture",
    )
    case = register_case_with_consent(intake, referral_runtime, school, ["identity"])
    case_id = case["case_id"]

    def refer(agency: str, service: str, categories: list[str]):
        return referrals.post(
            "/referrals",
            json=education_referral(case_id, agency, service=service, categories=categories),
        )

    # Outside the consent: another agency, another category. Refused, naming what is missing.
    other_agency = refer(training, "vocational_training", ["identity"])
    assert other_agency.status_code == 409
    assert f"to agency '{training}'" in other_agency.json()["detail"]
    other_category = refer(school, "education", ["identity", "contact_and_location"])
    assert other_category.status_code == 409
    assert "'contact_and_location'" in other_category.json()["detail"]

    made = refer(school, "education", ["identity"])
    assert made.status_code == 201, made.text
    referral_id = made.json()["referral_id"]
    assert made.json()["consent_ids"] == [case["consents"][0]["consent_id"]]

    received = read_messages(
        school_login.kafka_python(), f"homeward.partner.{school}.referrals", key=case_id
    )
    assert len(received) == 1
    message = as_json(received[0])
    assert message["type"] == "org.homeward.partner.ReferralReceived.v1"
    PARTNER_CATALOGUE.validate(CloudEvent.from_bytes(received[0].value))
    assert "Amani" not in received[0].value.decode()  # sealed to the school's key
    assert message["data"]["shared_data"]["alg"] == "X25519-SealedBox"
    assert message["data"]["referral_id"] == referral_id  # routing ids stay in clear
    guide = run_guide(school_keys, message)
    reply_key = guide["data"]["reply_key"]
    assert reply_key == referrals.get("/partners/reply-key").json()["public_key"]
    assert guide["data"]["shared_data"] == {
        "name": "Amani Zawadi-Kuvuka",
        "date_of_birth": "2011-03-14",
        "sex": "female",
        "age": 15,
        "languages": ["sw", "fr"],
    }
    assert "Kalehe" not in received[0].value.decode()  # the place was not consented
    assert (
        read_messages(
            training_login.kafka_python(),
            f"homeward.partner.{training}.referrals",
            key=case_id,
            timeout=3,
        )
        == []
    )

    answer(school_login, "ReferralAccepted", {"referral_id": referral_id})
    answer(
        school_login,
        "ServiceStarted",
        {"referral_id": referral_id, "started_on": "2026-11-23"},
    )
    answer(
        school_login,
        "MilestoneReported",
        {
            "referral_id": referral_id,
            "milestone": "education_enrolled",
            "reported_on": "2026-11-23",
            "detail": guide["sealed"]("Enrolled in the catch-up class", reply_key),
        },
    )
    # Not the partner's to answer, and free text in plaintext: both parked with their reasons.
    answer(training_login, "ReferralAccepted", {"referral_id": referral_id})
    answer(
        school_login,
        "ReferralDeclined",
        {"referral_id": referral_id, "reason": "Too far from the family"},
    )

    state = wait_until(
        lambda: (r := referrals.get(f"/referrals/{referral_id}").json())["milestones"] and r,
        what="the partner's answers applied",
    )
    assert state["state"] == "in_service"
    assert state["milestones"] == [["education_enrolled", "2026-11-23"]]
    # Each partner reads why its own answers were refused.
    parked = read_messages(school_login.kafka_python(), f"homeward.partner.{school}.replies.dlq")
    assert "ReferralDeclined" in dict(parked[0].headers)["dlq.reason"].decode()
    assert "reason must be sealed" in dict(parked[0].headers)["dlq.reason"].decode()
    stranger = read_messages(
        training_login.kafka_python(), f"homeward.partner.{training}.replies.dlq"
    )
    assert f"not addressed to agency {training}" in dict(stranger[0].headers)["dlq.reason"].decode()

    # Consent withdrawn: the partner is told to delete, and the same share is now refused.
    withdrawn = intake.post(
        f"/cases/{case_id}/consents/{case['consents'][0]['consent_id']}/withdrawal",
        json={"version": case["version"]},
    )
    assert withdrawn.status_code == 200, withdrawn.text
    notices = read_messages(
        school_login.kafka_python(), f"homeward.partner.{school}.referrals", key=case_id, expect=2
    )
    assert as_json(notices[-1])["type"] == "org.homeward.partner.ReferralDataWithdrawn.v1"
    assert as_json(notices[-1])["data"]["withdrawal_cause"] == "consent_withdrawn"
    wait_until(
        lambda: refer(school, "education", ["identity"]).status_code == 409,
        what="the withdrawal seen by the referral service",
    )


def test_partners_told_to_delete_acknowledge_it_and_an_expired_consent_tells_them_too(
    platform, settings, clock, tmp_path
):
    intake, referrals, referral_runtime = platform
    application = referral_runtime.application
    school = unique_agency("SCH")
    login = register_partner(
        referrals, settings.kafka_bootstrap, school, "education", tmp_path / "keys"
    )
    withdrawn_case = register_case_with_consent(intake, referral_runtime, school, ["identity"])
    expiring_case = register_case_with_consent(
        intake, referral_runtime, school, ["identity"], expires_on="2026-11-25"
    )
    made = {
        name: referrals.post("/referrals", json=education_referral(case["case_id"], school))
        for name, case in (("withdrawn", withdrawn_case), ("expiring", expiring_case))
    }
    assert all(response.status_code == 201 for response in made.values())
    withdrawn_id, expiring_id = (made[name].json()["referral_id"] for name in made)
    assert made["withdrawn"].json()["deletion_due_by"] is None

    def notices_of(case: dict) -> list[dict]:
        """What the partner reads of the case on its own topic, signed in as itself."""
        received = read_messages(
            login.kafka_python(),
            f"homeward.partner.{school}.referrals",
            key=case["case_id"],
            expect=2,
        )
        return [as_json(record) for record in received]

    # Consent withdrawn at intake: the partner is told, deletes, and says so on Kafka.
    withdrawal = intake.post(
        f"/cases/{withdrawn_case['case_id']}/consents/"
        f"{withdrawn_case['consents'][0]['consent_id']}/withdrawal",
        json={"version": withdrawn_case["version"]},
    )
    assert withdrawal.status_code == 200, withdrawal.text
    notice = notices_of(withdrawn_case)[-1]
    assert notice["type"] == "org.homeward.partner.ReferralDataWithdrawn.v1"
    assert notice["data"]["withdrawal_cause"] == "consent_withdrawn"
    told = referrals.get(f"/referrals/{withdrawn_id}").json()
    assert told["withdrawal_cause"] == "consent_withdrawn"
    assert told["deletion_due_by"] == "2026-11-30T09:00:00Z"  # 7 days from the notice
    assert (told["data_deleted_on"], told["deletion_overdue"]) == (None, False)
    answer(login, "ReferralDataDeleted", {"referral_id": withdrawn_id, "deleted_on": "2026-11-24"})
    acknowledged = wait_until(
        lambda: (r := referrals.get(f"/referrals/{withdrawn_id}").json())["data_deleted_on"] and r,
        what="the partner's acknowledgement applied",
    )
    assert acknowledged["data_deleted_on"] == "2026-11-24"
    assert acknowledged["deletion_overdue"] is False
    again = referrals.post(
        f"/partners/{school}/referrals/{withdrawn_id}/answers",
        json={"type": "ReferralDataDeleted", "data": {"deleted_on": "2026-11-25"}},
        headers=partner_headers(settings, school),
    )
    assert again.status_code == 409
    assert "acknowledged the deletion already" in again.json()["detail"]

    # Past its expiry day, the other consent's referral is told too, by the periodic sweep.
    assert any(
        job.work == application.withdraw_data_of_lapsed_consents for job in referral_runtime.jobs
    )
    acknowledged_version = application.get_referral(uuid.UUID(withdrawn_id)).version
    clock.now = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    application.withdraw_data_of_lapsed_consents()
    notice = notices_of(expiring_case)[-1]
    assert notice["type"] == "org.homeward.partner.ReferralDataWithdrawn.v1"
    assert notice["data"]["withdrawal_cause"] == "consent_expired"
    assert application.get_referral(uuid.UUID(withdrawn_id)).version == acknowledged_version

    # A week and an hour later, the unacknowledged deletion is overdue, in the case's list too.
    clock.now += timedelta(days=7, hours=1)
    expired = referrals.get(f"/referrals/{expiring_id}").json()
    assert (expired["withdrawal_cause"], expired["deletion_overdue"]) == ("consent_expired", True)
    assert expired["deletion_due_by"] == "2026-12-03T09:00:00Z"
    listed = referrals.get(f"/cases/{expiring_case['case_id']}/referrals").json()
    assert [(r["referral_id"], r["deletion_overdue"]) for r in listed["items"]] == [
        (expiring_id, True)
    ]
    assert referrals.get(f"/referrals/{withdrawn_id}").json()["deletion_overdue"] is False
    published = read_messages(
        as_admin(settings), "homeward.referral.events", key=withdrawn_case["case_id"], expect=3
    )
    deleted = [r for r in published if as_json(r)["type"].endswith(".ReferralDataDeleted.v1")]
    assert len(deleted) == 1
    REFERRAL_EVENTS.validate(CloudEvent.from_bytes(deleted[0].value))
    assert as_json(deleted[0])["data"]["deleted_on"] == "2026-11-24"


def test_a_withdrawal_seen_while_a_referral_is_made_reaches_it_once_saved(
    platform, settings, tmp_path, monkeypatch
):
    """The withdrawal lands in the view after the referral's consent check, and its handler's
    scan of the referrals has run, before the referral is saved: POST /referrals checks the
    saved referral again, so the partner is told at once, not at the next sweep."""
    intake, referrals, referral_runtime = platform
    school = unique_agency("SCH")
    register_partner(referrals, settings.kafka_bootstrap, school, "education", tmp_path / "keys")
    case = register_case_with_consent(intake, referral_runtime, school, ["identity"])
    view = referral_runtime.application.intake
    consents = view.consents
    withdrawal = CloudEvent(
        specversion="1.0",
        id=str(uuid.uuid4()),
        source="/homeward/intake",
        type="org.homeward.intake.ConsentWithdrawn.v1",
        time=datetime(2026, 11, 23, 9, 0, tzinfo=UTC),
        data={"case_id": case["case_id"], "consent_id": case["consents"][0]["consent_id"]},
    )

    def checked_then_withdrawn(case_id: uuid.UUID):
        stale = consents(case_id)
        monkeypatch.setattr(view, "consents", consents)
        with view.database.transaction() as tx:
            view.apply(withdrawal, tx)
        return stale

    monkeypatch.setattr(view, "consents", checked_then_withdrawn)
    made = referrals.post("/referrals", json=education_referral(case["case_id"], school))
    assert made.status_code == 201, made.text
    assert (made.json()["state"], made.json()["withdrawal_cause"]) == (
        "data_withdrawn",
        "consent_withdrawn",
    )


def test_a_partner_declines_over_http_and_an_unanswered_referral_expires(
    platform, settings, clock, tmp_path
):
    intake, referrals, referral_runtime = platform
    school = unique_agency("SCH")
    lycee = {
        "agency": school,
        "name": "Lycee",
        "kind": "school",
        "country": "CD",
        "services": ["education"],
    }
    for wrong_key, problem in (
        ("not a key!", "base64"),
        (base64.b64encode(b"sixteen bytes...").decode(), "32-byte"),
    ):
        refused = referrals.post(
            "/partners", json=lycee | {"public_key": wrong_key}, headers=admin_headers(settings)
        )
        assert refused.status_code == 422
        assert "public_key" in refused.json()["detail"]
        assert problem in refused.json()["detail"]
    register_partner(referrals, settings.kafka_bootstrap, school, "education", tmp_path / "keys")
    case = register_case_with_consent(intake, referral_runtime, school, ["identity"])

    def refer(urgency: str, status: int = 201) -> str:
        made = referrals.post(
            "/referrals", json=education_referral(case["case_id"], school, urgency=urgency)
        )
        assert made.status_code == status, made.text
        return made.json()["referral_id"]

    declined = refer("routine")
    as_school = partner_headers(settings, school)
    without_reason = referrals.post(
        f"/partners/{school}/referrals/{declined}/answers",
        json={"type": "ReferralDeclined", "data": {}},
        headers=as_school,
    )
    assert without_reason.status_code == 422
    assert "reason" in without_reason.json()["detail"]
    decline = {
        "type": "ReferralDeclined",
        "data": {"reason": "No place left this term"},
        "answer_id": str(uuid.uuid4()),
    }
    with_reason = referrals.post(
        f"/partners/{school}/referrals/{declined}/answers", json=decline, headers=as_school
    )
    assert with_reason.json()["state"] == "declined"
    assert with_reason.json()["closing_reason"] == "No place left this term"
    # The same answer sent again (a retry after a lost response) changes nothing.
    retried = referrals.post(
        f"/partners/{school}/referrals/{declined}/answers", json=decline, headers=as_school
    )
    assert retried.status_code == 200
    assert retried.json()["version"] == with_reason.json()["version"]
    assert (
        referrals.get(f"/partners/OTHER-AG/referrals/{declined}", headers=as_school).status_code
        == 404
    )
    as_other = partner_headers(settings, "OTHER-AG")
    assert (
        referrals.get(f"/partners/OTHER-AG/referrals/{declined}", headers=as_other).status_code
        == 404
    )

    # One open referral per case, partner and service: the repeat is answered with it.
    urgent = refer("urgent")
    assert refer("urgent", status=200) == urgent
    assert refer("routine", status=200) == urgent
    clock.now += timedelta(hours=25)
    assert referral_runtime.application.expire_unanswered() == [uuid.UUID(urgent)]
    routine = refer("routine")
    clock.now += timedelta(days=7, hours=1)
    assert referral_runtime.application.expire_unanswered() == [uuid.UUID(routine)]
    assert referrals.get(f"/referrals/{routine}").json()["state"] == "expired"
    late = referrals.post(
        f"/partners/{school}/referrals/{routine}/answers",
        json={"type": "ReferralAccepted", "data": {}},
        headers=as_school,
    )
    assert late.status_code == 409
    expired = read_messages(
        as_admin(settings),
        f"homeward.partner.{school}.referrals",
        key=case["case_id"],
        expect=5,
    )
    types = [as_json(record)["type"].split(".")[3] for record in expired]
    assert types.count("ReferralReceived") == 3
    assert types.count("ReferralExpired") == 2
    for record in expired:
        PARTNER_CATALOGUE.validate(CloudEvent.from_bytes(record.value))
    own = read_messages(
        as_admin(settings), "homeward.referral.events", key=case["case_id"], expect=6
    )
    assert {as_json(r)["type"].split(".")[3] for r in own} == {
        "ReferralMade",
        "ReferralDeclined",
        "ReferralExpired",
    }
    for record in own:
        REFERRAL_EVENTS.validate(CloudEvent.from_bytes(record.value))


def test_no_referral_on_a_closed_case(platform, settings, tmp_path):
    intake, referrals, referral_runtime = platform
    school = unique_agency("SCH")
    register_partner(referrals, settings.kafka_bootstrap, school, "education", tmp_path / "keys")
    case = register_case_with_consent(intake, referral_runtime, school, ["identity"])
    asked = intake.post(
        f"/cases/{case['case_id']}/closure",
        json={"version": case["version"], "reason": "moved_away", "requested_on": "2026-11-23"},
    )
    assert asked.status_code == 200, asked.text
    closed = intake.post(
        f"/cases/{case['case_id']}/closure/approval",
        json={"version": asked.json()["version"], "approved_on": "2026-11-23"},
        headers=supervisor_headers(intake.app.state.runtime.settings),
    )
    assert closed.status_code == 200, closed.text
    view = referral_runtime.application.intake
    wait_until(lambda: view.case_data(uuid.UUID(case["case_id"]), "test")[1], what="closure seen")
    refused = referrals.post("/referrals", json=education_referral(case["case_id"], school))
    assert refused.status_code == 409
    assert "no referral on a closed case" in refused.json()["detail"]


def test_security_and_prosecution_bodies_are_never_partners(platform, settings, tmp_path):
    _, referrals, _ = platform
    for kind in ("police_security", "prosecution", "armed_forces", "intelligence"):
        refused = referrals.post(
            "/partners",
            json={
                "agency": unique_agency("GOV"),
                "name": "Parquet",
                "kind": kind,
                "country": "CD",
                "services": ["legal_aid"],
                "public_key": partner_keys(tmp_path / kind),
            },
            headers=admin_headers(settings),
        )
        assert refused.status_code == 409, refused.text
        assert "no data to security or prosecution bodies" in refused.json()["detail"]
        assert "Paris Commitments 10-11" in refused.json()["detail"]


def test_no_referral_to_the_authorities_of_a_refugees_country_of_origin(
    platform, settings, tmp_path
):
    intake, referrals, referral_runtime = platform
    ministry, host_ministry = unique_agency("MIN"), unique_agency("MIN")
    bootstrap = settings.kafka_bootstrap
    for agency, country in ((ministry, "SS"), (host_ministry, "CD")):
        register_partner(
            referrals,
            bootstrap,
            agency,
            "education",
            tmp_path / agency,
            kind="government_authority",
            country=country,
        )
    refugee = {"nationality": "SS", "displacement": "refugee"}
    case = register_case_with_consent(intake, referral_runtime, ministry, ["identity"], **refugee)
    refused = referrals.post("/referrals", json=education_referral(case["case_id"], ministry))
    assert refused.status_code == 409
    assert "non-refoulement" in refused.json()["detail"]
    assert "Paris Commitments 14" in refused.json()["detail"]
    # The host country's own authority is not the country of origin.
    hosted = register_case_with_consent(
        intake, referral_runtime, host_ministry, ["identity"], **refugee
    )
    made = referrals.post("/referrals", json=education_referral(hosted["case_id"], host_ministry))
    assert made.status_code == 201, made.text


def test_statistics_and_monitoring_consents_never_carry_identity(platform):
    intake, _, _ = platform
    case = intake.post("/cases", json=registration()).json()
    for purpose, categories in (
        ("statistics", ["identity", "education"]),
        ("monitoring", ["sexual_violence"]),
        ("statistics", ["association"]),
        ("monitoring", ["contact_and_location"]),
    ):
        refused = intake.post(
            f"/cases/{case['case_id']}/consents",
            json={
                "version": case["version"],
                "given_by": "caregiver_consent",
                "purpose": purpose,
                "recipients": ["UN-MRM"],
                "categories": categories,
                "given_on": "2026-11-20",
            },
        )
        assert refused.status_code == 409, refused.text
        assert "statistics and monitoring carry no one's identity" in refused.json()["detail"]
        assert categories[0] in refused.json()["detail"]


def test_a_referral_serves_the_purpose_of_its_service_and_publicity_needs_its_own_consent(
    platform, settings, tmp_path
):
    intake, referrals, referral_runtime = platform
    tracer = unique_agency("TRC")
    register_partner(
        referrals, settings.kafka_bootstrap, tracer, "family_tracing", tmp_path / "keys"
    )
    case = register_case_with_consent(intake, referral_runtime, tracer, ["identity"])
    stretched = referrals.post(
        "/referrals", json=education_referral(case["case_id"], tracer, service="family_tracing")
    )
    assert stretched.status_code == 409
    assert "purpose bound to the service" in stretched.json()["detail"]
    # Consent to be traced is not consent to have one's photo published.
    traced = intake.post(
        f"/cases/{case['case_id']}/consents",
        json={
            "version": case["version"],
            "given_by": "child_consent",
            "purpose": "family_tracing",
            "recipients": [tracer],
            "categories": ["identity", "family"],
            "given_on": "2026-11-20",
        },
    )
    assert traced.status_code == 201, traced.text
    view = referral_runtime.application.intake
    wait_until(
        lambda: len(view.consents(uuid.UUID(case["case_id"]))) == 2, what="tracing consent seen"
    )
    publicity = education_referral(
        case["case_id"], tracer, service="family_tracing", purpose="tracing_publicity"
    )
    refused = referrals.post("/referrals", json=publicity)
    assert refused.status_code == 409
    assert "no publicity without explicit consent" in refused.json()["detail"]
    tracing = publicity | {"purpose": "family_tracing"}
    assert referrals.post("/referrals", json=tracing).status_code == 201


def test_erasure_tells_the_partner_to_delete_and_ends_sharing(platform, settings, tmp_path):
    intake, referrals, referral_runtime = platform
    school = unique_agency("SCH")
    register_partner(referrals, settings.kafka_bootstrap, school, "education", tmp_path / "keys")
    case = register_case_with_consent(intake, referral_runtime, school, ["identity"])
    case_id = case["case_id"]
    made = referrals.post("/referrals", json=education_referral(case_id, school))
    assert made.status_code == 201

    erased = intake.post(
        f"/cases/{case_id}/erasure",
        json={"version": case["version"], "reason": "child_request"},
        headers=supervisor_headers(settings),
    )
    assert erased.status_code == 200, erased.text
    notices = read_messages(
        as_admin(settings), f"homeward.partner.{school}.referrals", key=case_id, expect=2
    )
    notice = as_json(notices[-1])
    assert notice["type"] == "org.homeward.partner.ReferralDataWithdrawn.v1"
    assert notice["data"]["withdrawal_cause"] == "case_erased"
    # The case's key is gone; what the partner must do is still sealed to the partner's key.
    assert "delete" in opened_data(tmp_path / "keys", notice)["instruction"]
    view = referral_runtime.application.intake
    assert view.case_data(uuid.UUID(case_id), "test") is None
    # What the referral recorded reads as erased too, and nothing more can be shared.
    read = referrals.get(f"/referrals/{made.json()['referral_id']}")
    assert read.json()["shared_data"] == "[erased]"
    # The caseworker still sees whether the partner deleted: the case's list outlives it.
    (listed,) = referrals.get(f"/cases/{case_id}/referrals").json()["items"]
    assert (listed["withdrawal_cause"], listed["data_deleted_on"]) == ("case_erased", None)
    # Its acknowledgement is recorded without the case's key, which is gone.
    acknowledged = referrals.post(
        f"/partners/{school}/referrals/{listed['referral_id']}/answers",
        json={"type": "ReferralDataDeleted", "data": {"deleted_on": "2026-11-24"}},
        headers=partner_headers(settings, school),
    )
    assert acknowledged.status_code == 200, acknowledged.text
    assert acknowledged.json()["data_deleted_on"] == "2026-11-24"
    again = referrals.post("/referrals", json=education_referral(case_id, school))
    assert again.status_code == 404
