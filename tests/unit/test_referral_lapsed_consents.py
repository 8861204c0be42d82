"""A consent that lapses (withdrawn, expired) or a case erased reaches every partner that
received data under it: the sweep finds the referrals the withdrawal handler's scan missed,
however the two raced, and tells each partner once."""

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from services.referral.app import ReferralApplication, ReferralRequest
from services.referral.domain import Referral, ServiceKind, Urgency
from services.referral.handlers import on_intake_event
from services.referral.index import ReferralIndex
from services.referral.projections import (
    CASE_ERASED,
    CONSENT_GIVEN,
    CONSENT_WITHDRAWN,
    IntakeView,
)
from shared.consent import DataCategory, Purpose
from shared.database import Database
from shared.envelope import CloudEvent, event_type
from shared.protections import PartnerKind

SCHOOL = "SCH-GOMA"
KEY = "dZLs2Lub1JWrXF/776h64qarrWirZ9S6b2R+Nc8HWGY="  # any X25519 public key
MEMORY = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": ":memory:"}

CHILD_REGISTERED = event_type("intake", "ChildRegistered", 2)


class MovableClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Service:
    """The referral application with its view of intake, fed as its consumer would feed it."""

    def __init__(self, case_keys: Any) -> None:
        self.clock = MovableClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
        self.app = ReferralApplication(
            {"PERSISTENCE_MODULE": "eventsourcing.popo"}, self.clock, case_keys
        )
        self.view = IntakeView(Database.named("referral", MEMORY), case_keys)
        self.app.attach_intake_view(self.view)
        self.app.attach_index(ReferralIndex(Database.named("index", MEMORY), self.app))
        self.withdraw = on_intake_event(self.app)
        self.case_id = uuid.uuid4()
        case_keys.for_sealing(self.case_id)

    def intake_message(self, type_: str, data: dict[str, Any]) -> CloudEvent:
        return CloudEvent(
            specversion="1.0",
            id=str(uuid.uuid4()),
            source="/homeward/intake",
            type=type_,
            subject=str(self.case_id),
            time=self.clock(),
            data={"case_id": str(self.case_id), **data},
        )

    def consent_given(self, expires_on: date | None = None) -> uuid.UUID:
        consent_id = uuid.uuid4()
        given = {
            "consent_id": str(consent_id),
            "given_by": "child_consent",
            "purpose": "education",
            "recipients": [SCHOOL],
            "categories": ["identity"],
            "given_on": "2026-11-20",
            "expires_on": expires_on and expires_on.isoformat(),
        }
        self.handle(self.intake_message(CONSENT_GIVEN, given), "homeward.intake.events")
        return consent_id

    def handle(self, message: CloudEvent, topic: str) -> None:
        """As the service's consumer does: the view first, then what the fact commands."""
        self.seen_only(message)
        self.withdraw(message, topic)

    def seen_only(self, message: CloudEvent) -> None:
        """The view learns a message, and the handler's scan that should follow never runs."""
        with self.view.database.transaction() as tx:
            self.view.apply(message, tx)

    def referral(self, consent_id: uuid.UUID) -> Referral:
        made = Referral.make(
            case_id=self.case_id,
            agency=SCHOOL,
            service=ServiceKind.EDUCATION,
            purpose=Purpose.EDUCATION,
            urgency=Urgency.ROUTINE,
            categories=[DataCategory.IDENTITY],
            consent_ids=[consent_id],
            shared_data={"name": "x"},
            answer_by=self.clock() + timedelta(days=7),
            made_by="cw-1",
            referring_agency="CD-KIN",
        )
        self.app.save(made)
        return made

    def notices(self, referral: Referral) -> list[Referral.ReferralDataWithdrawn]:
        return [
            event
            for event in self.app.repository.event_store.get(referral.id)
            if isinstance(event, Referral.ReferralDataWithdrawn)
        ]


@pytest.fixture
def service(case_keys) -> Service:
    return Service(case_keys)


def test_an_expired_consent_tells_the_partner_to_delete_from_the_day_after_its_expiry(service):
    consent_id = service.consent_given(expires_on=date(2026, 11, 30))
    under_it = service.referral(consent_id)
    service.clock.now = datetime(2026, 11, 30, 23, 59, tzinfo=UTC)
    assert service.app.withdraw_data_of_lapsed_consents() == []
    service.clock.now = datetime(2026, 12, 1, 0, 1, tzinfo=UTC)
    assert service.app.withdraw_data_of_lapsed_consents() == [under_it.id]
    (notice,) = service.notices(under_it)
    assert (notice.withdrawal_cause, notice.consent_id) == ("consent_expired", consent_id)
    assert notice.timestamp == service.clock.now  # the deletion delay counts from it
    assert service.app.get_referral(under_it.id).state == "data_withdrawn"


def test_a_withdrawal_whose_scan_missed_the_referral_is_acted_on_by_the_sweep(service):
    consent_id, valid_id = service.consent_given(), service.consent_given()
    missed, valid = service.referral(consent_id), service.referral(valid_id)
    service.seen_only(service.intake_message(CONSENT_WITHDRAWN, {"consent_id": str(consent_id)}))
    assert service.app.withdraw_data_of_lapsed_consents() == [missed.id]
    (notice,) = service.notices(missed)
    assert (notice.withdrawal_cause, notice.consent_id) == ("consent_withdrawn", consent_id)
    assert service.notices(valid) == []


def test_an_erased_case_whose_scan_missed_the_referral_is_acted_on_by_the_sweep(service):
    missed = service.referral(service.consent_given())
    service.seen_only(service.intake_message(CHILD_REGISTERED, {"registering_agency": "CD-KIN"}))
    service.seen_only(service.intake_message(CASE_ERASED, {"erasure_reason": "child_request"}))
    assert service.app.withdraw_data_of_lapsed_consents() == [missed.id]
    (notice,) = service.notices(missed)
    assert (notice.withdrawal_cause, notice.consent_id) == ("case_erased", None)


def test_a_consent_the_view_never_held_for_a_case_still_known_is_no_erasure(service):
    service.seen_only(service.intake_message(CHILD_REGISTERED, {"registering_agency": "CD-KIN"}))
    unknown = service.referral(uuid.uuid4())
    assert service.app.withdraw_data_of_lapsed_consents() == []
    assert service.notices(unknown) == []


def test_the_sweep_leaves_withdrawn_data_alone_and_tells_each_partner_once(service):
    withdrawn_id = service.consent_given(expires_on=date(2026, 11, 30))
    expiring_id = service.consent_given(expires_on=date(2026, 11, 30))
    withdrawn, expiring = service.referral(withdrawn_id), service.referral(expiring_id)
    service.handle(
        service.intake_message(CONSENT_WITHDRAWN, {"consent_id": str(withdrawn_id)}),
        "homeward.intake.events",
    )
    version = service.app.get_referral(withdrawn.id).version
    service.clock.now += timedelta(days=10)  # both consents have expired now
    assert service.app.withdraw_data_of_lapsed_consents() == [expiring.id]
    assert service.app.withdraw_data_of_lapsed_consents() == []
    assert service.app.get_referral(withdrawn.id).version == version
    assert [n.withdrawal_cause for n in service.notices(withdrawn)] == ["consent_withdrawn"]
    assert [n.withdrawal_cause for n in service.notices(expiring)] == ["consent_expired"]


def test_a_referral_saved_after_the_withdrawal_handler_ran_still_gets_its_notice(
    service, monkeypatch
):
    """The race: make_referral checks consent against the view; the withdrawal arrives, is
    applied to the view and its handler scans the referrals; only then is the referral saved.
    The scan could not see it; the sweep does."""
    registered = {
        "registering_agency": "CD-KIN",
        "name": "Amani",
        "date_of_birth": None,
        "estimated_age": 15,
        "released_on": "2026-10-03",
        "sex": "female",
        "languages": ["sw"],
    }
    service.handle(service.intake_message(CHILD_REGISTERED, registered), "homeward.intake.events")
    consent_id = service.consent_given()
    service.app.register_partner(
        SCHOOL, "Ecole", PartnerKind.SCHOOL, "CD", [ServiceKind.EDUCATION], KEY
    )
    withdrawal = service.intake_message(CONSENT_WITHDRAWN, {"consent_id": str(consent_id)})
    consents = service.view.consents

    def checked_then_withdrawn(case_id: uuid.UUID) -> Any:
        stale = consents(case_id)
        monkeypatch.setattr(service.view, "consents", consents)
        service.handle(withdrawal, "homeward.intake.events")  # the view, then the scan
        return stale

    monkeypatch.setattr(service.view, "consents", checked_then_withdrawn)
    made, new = service.app.make_referral(
        ReferralRequest(
            case_id=service.case_id,
            agency=SCHOOL,
            service=ServiceKind.EDUCATION,
            purpose=Purpose.EDUCATION,
            urgency=Urgency.ROUTINE,
            categories=(DataCategory.IDENTITY,),
            made_by="cw-1",
            referring_agency="CD-KIN",
        )
    )
    assert new
    assert made.consent_ids == [consent_id]
    assert service.notices(made) == []  # the handler's scan ran before the save: missed
    assert service.view.consents(service.case_id)[0].withdrawn_at is not None
    assert service.app.withdraw_data_of_lapsed_consents() == [made.id]
    (notice,) = service.notices(made)
    assert (notice.withdrawal_cause, notice.consent_id) == ("consent_withdrawn", consent_id)


def test_the_check_of_a_referral_just_saved_acts_at_once(service):
    consent_id = service.consent_given()
    made = service.referral(consent_id)
    assert service.app.withdraw_data_if_consent_lapsed(made.id).state == "awaiting_answer"
    service.seen_only(service.intake_message(CONSENT_WITHDRAWN, {"consent_id": str(consent_id)}))
    rechecked = service.app.withdraw_data_if_consent_lapsed(made.id)
    assert (rechecked.state, rechecked.withdrawal_cause) == ("data_withdrawn", "consent_withdrawn")
    assert len(service.notices(made)) == 1
