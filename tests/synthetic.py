"""A deterministic synthetic programme: thousands of released children's cases as the three
services publish them, for the reports' tests and the README's chart.

Each case is a run of the services' own domain events (``ChildCase``, ``Referral``,
``FollowUpPlan`` event classes), turned into messages by the services' own catalogues
(``CATALOGUE.to_cloudevent``), sealed with the case's key by the same code the outbox relay
runs: the messages are those the services would publish, without the commands that would
take minutes for thousands of cases. The plaintext events are kept beside them, so that a test
can count from them on its own.

Proportions follow what programmes report (UN Secretary-General's annual reports on children
and armed conflict; DDR programme reviews): mostly boys, most children 15-17, a third
escaping, most handed over within two days, most reunified with their families.
"""

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID

from kafka import KafkaProducer

from services.followup.domain import FollowUpPlan
from services.followup.messages import CATALOGUE as FOLLOWUP
from services.intake.domain import ChildCase
from services.intake.messages import CATALOGUE as INTAKE
from services.referral.domain import Referral
from services.referral.messages import CATALOGUE as REFERRAL
from shared.envelope import CONTENT_TYPE, CloudEvent
from shared.keyring import CaseKeys, Keyring
from shared.privacy import CaseResolver
from shared.publishing import EventCatalogue
from shared.signatures import sign

SCHEMAS_AT = "https://homeward.example.org"
CATALOGUES: dict[str, EventCatalogue] = {
    "intake": INTAKE,
    "referral": REFERRAL,
    "followup": FOLLOWUP,
}

# Agencies (country code first) and the places their children are released in.
PLACES = {
    "CD-GOM": ["Rutshuru", "Masisi", "Nyiragongo", "Walikale", "Lubero"],
    "CD-BKV": ["Kalehe", "Kabare", "Shabunda", "Mwenga", "Uvira"],
    "CF-BGF": ["Kaga-Bandoro", "Bambari", "Bria", "Ndele"],
}
# The programme's reference lists (what ``Coarsening`` reads): places by region, and the
# listed armed forces and groups by the names caseworkers record.
REGIONS = {
    "Rutshuru": "North Kivu",
    "Masisi": "North Kivu",
    "Nyiragongo": "North Kivu",
    "Walikale": "North Kivu",
    "Lubero": "North Kivu",
    "Kalehe": "South Kivu",
    "Kabare": "South Kivu",
    "Shabunda": "South Kivu",
    "Mwenga": "South Kivu",
    "Uvira": "South Kivu",
    "Kaga-Bandoro": "Nana-Grebizi",
    "Bambari": "Ouaka",
    "Bria": "Haute-Kotto",
    "Ndele": "Bamingui-Bangoran",
}
PARTIES = {
    "M23": ("M23", "non_state_armed_group"),
    "Nyatura": ("Nyatura", "non_state_armed_group"),
    "Raia Mutomboki": ("Raia Mutomboki", "non_state_armed_group"),
    "CODECO": ("CODECO", "non_state_armed_group"),
    "FARDC": ("FARDC", "state_armed_force"),
    "Wazalendo": ("Wazalendo", "allied_militia"),
    "UPC": ("UPC", "non_state_armed_group"),
    "3R": ("3R", "non_state_armed_group"),
}
REFERENCE = {
    "regions": REGIONS,
    "parties": {name: listed for name, (listed, _kind) in PARTIES.items()},
}
PARTNERS = {
    "education": "SCH-GOMA",
    "vocational_training": "VOC-BKV",
    "livelihood": "LIV-BGF",
    "psychosocial": "PSY-GOMA",
}
SERVICE_PURPOSE = {
    "education": "education",
    "vocational_training": "livelihood",
    "livelihood": "livelihood",
    "psychosocial": "psychosocial_support",
}
HOW_LEFT = {
    "formal_release": 25,
    "negotiated_release": 10,
    "escape": 33,
    "capture": 8,
    "surrender": 12,
    "identified_in_community": 7,
    "abandoned_by_group": 3,
    "released_by_community": 2,
}
FIRST_RELEASE = date(2025, 1, 1)
RELEASE_DAYS = 640  # to early October 2026
VISITS_AFTER_RETURN = (14, 30, 91)  # days: the first three visits of follow-up's schedule
DATA_CUT = date(2026, 11, 20)  # the programme's records end here: later visits are not done yet


def weighted(chance: random.Random, weights: dict[str, int]) -> str:
    return chance.choices(list(weights), weights=list(weights.values()))[0]


class Publisher:
    """What a catalogue needs of a service to make a message: the case keys to seal with,
    and the same case resolver the services use (a referral's or a plan's later events
    belong to the case their creation event names); then each service's signature, as its
    outbox relay signs."""

    def __init__(self, case_keys: CaseKeys) -> None:
        self.case_keys = case_keys
        self.cases = CaseResolver()
        self.signing_keys = {
            service: case_keys.keyring.message_signing_key(service) for service in CATALOGUES
        }

    def case_of(self, event: Any) -> UUID:
        return self.cases.case_of(event)

    def message(self, service: str, event: Any) -> CloudEvent:
        made = CATALOGUES[service].to_cloudevent(event, self, SCHEMAS_AT)
        assert made is not None
        return sign(made, self.signing_keys[service])


@dataclass
class SyntheticProgramme:
    """The plaintext events, by case, and the messages the services publish for them."""

    events: list[tuple[str, UUID, Any]] = field(default_factory=list)  # service, case, event
    messages: list[tuple[str, CloudEvent]] = field(default_factory=list)  # service, message
    erased: set[UUID] = field(default_factory=set)
    cases: dict[UUID, "SyntheticCase"] = field(default_factory=dict)


class SyntheticCase:
    """One child's events as they are recorded, service by service."""

    def __init__(self, programme: SyntheticProgramme, publisher: Publisher, case_id: UUID) -> None:
        self.programme = programme
        self.publisher = publisher
        self.case_id = case_id
        self.versions: dict[UUID, int] = {}
        programme.cases[case_id] = self
        publisher.case_keys.for_sealing(case_id)  # made at registration, as intake makes it

    def intake(self, event_class: type, at: datetime, /, **fields: Any) -> None:
        """A fact of the case itself, as intake records it."""
        self.record("intake", event_class, self.case_id, at, **fields)

    def record(
        self, service: str, event_class: type, aggregate: UUID, at: datetime, /, **fields: Any
    ) -> None:
        version = self.versions.get(aggregate, 0) + 1
        self.versions[aggregate] = version
        identity: dict[str, Any] = {
            "originator_id": aggregate,
            "originator_version": version,
            "timestamp": at,
        }
        if version == 1:
            aggregate_class = event_class.__qualname__.rsplit(".", 1)[0]
            identity["originator_topic"] = f"{event_class.__module__}:{aggregate_class}"
        event = event_class(**identity, **fields)
        self.programme.events.append((service, self.case_id, event))
        self.programme.messages.append((service, self.publisher.message(service, event)))


def at_noon(day: date, hours: float = 0) -> datetime:
    return datetime.combine(day, time(12), tzinfo=UTC) + timedelta(hours=hours)


def generate(seed: int, count: int, case_keys: CaseKeys) -> SyntheticProgramme:
    """``count`` cases, the same for the same seed (their ids too)."""
    chance = random.Random(seed)
    programme = SyntheticProgramme()
    publisher = Publisher(case_keys)
    for number in range(1, count + 1):
        case_id = uuid4_from(chance)
        case = SyntheticCase(programme, publisher, case_id)
        _one_case(chance, case, number)
        if chance.random() < 0.01:
            # Erased later: the key goes once the messages are made (see ``erase``).
            case.intake(
                ChildCase.CaseErased,
                at_noon(FIRST_RELEASE + timedelta(days=RELEASE_DAYS + 30)),
                erasure_reason="child_request",
                requested_by="sv-0001",
            )
            programme.erased.add(case_id)
    return programme


def _one_case(chance: random.Random, case: SyntheticCase, number: int) -> None:
    agency = chance.choices(list(PLACES), weights=[45, 35, 20])[0]
    released = FIRST_RELEASE + timedelta(days=chance.randrange(RELEASE_DAYS))
    sex = "female" if chance.random() < 0.17 else "male"
    age = chance.choices(
        [8, 9, 11, 12, 13, 14, 15, 16, 17, 18], [1, 2, 3, 5, 8, 12, 18, 22, 24, 5]
    )[0]
    party = chance.choice(list(PARTIES)) if chance.random() < 0.92 else "a local self-defence group"
    kind = PARTIES.get(party, (party, "allied_militia"))[1]
    place = chance.choice(PLACES[agency]) if chance.random() < 0.95 else "a village near the road"
    staff = f"cw-{chance.randrange(1, 40):04d}"
    case.intake(
        ChildCase.ChildRegistered,
        at_noon(released, 2),
        case_number=f"{agency}-{released.year}-{number:05d}",
        name=f"Synthetic Child {number}",
        date_of_birth=None,
        how_left=weighted(chance, HOW_LEFT),
        released_on=released,
        release_place=f"{place}, registration point {chance.randrange(1, 9)}",
        armed_group=party,
        armed_group_kind=kind,
        roles=[chance.choice(["combatant", "support", "spy", "other"])],
        sex=sex,
        estimated_age=age,
        languages=["sw"],
        registering_agency=agency,
        caseworker=staff,
        nationality=agency[:2],
        displacement="resident",
        separated_from_adults=True,
        notes={},
    )
    if chance.random() < 0.9:
        consent = uuid4_from(chance)
        case.intake(
            ChildCase.ConsentGiven,
            at_noon(released, 3),
            consent_id=consent,
            given_by="child_consent" if age >= 15 else "caregiver_consent",
            purpose=chance.choice(["statistics", "monitoring"]),
            recipients=[agency],
            categories=["education"],
            given_on=released,
            expires_on=None,
            recorded_by=staff,
            approved_by=None,
        )
        if chance.random() < 0.03:
            case.intake(
                ChildCase.ConsentWithdrawn,
                at_noon(released, 200),
                consent_id=consent,
                recorded_by=staff,
            )
    day = released
    if chance.random() < 0.9:
        hours = chance.lognormvariate(3.4, 0.6)  # a median of about 30 h
        case.intake(
            ChildCase.HandedOver,
            at_noon(released, hours),
            from_actor="the armed force's liaison",
            to_agency=agency,
            handed_over_at=datetime.combine(released, time(0), tzinfo=UTC) + timedelta(hours=hours),
            protocol=None,
            custody_hours=None,
        )
    if chance.random() < 0.7:
        weeks = chance.lognormvariate(2.0, 0.45)  # a median of about 7 weeks
        left = day + timedelta(days=round(weeks * 7))
        case.intake(
            ChildCase.InterimCarePlaced,
            at_noon(day, 30),
            kind=chance.choice(["interim_care_centre", "transit_centre", "family_based_care"]),
            carer="the centre's staff",
            address=None,
            entered_on=day,
            planned_end_on=None,
            placed_by=staff,
            stage="interim_care",
        )
        case.intake(
            ChildCase.InterimCareEnded,
            at_noon(left),
            left_on=left,
            exit_reason="family_reunification",
            recorded_by=staff,
            stage="interim_care",
        )
        day = left
    returned = _return(chance, case, day, staff)
    reunified = isinstance(case.programme.events[-1][2], ChildCase.Reunified)
    if returned is not None:
        _follow_up(chance, case, returned, staff)
        if reunified:
            _breakdown(case, returned, staff)
    for service in chance.sample(list(PARTNERS), k=chance.choice([0, 0, 1, 1, 2])):
        _referral(
            chance, case, day + timedelta(days=chance.randrange(5, 60)), service, agency, staff
        )
    ending = chance.random()
    if ending < 0.04:
        _close(case, day + timedelta(days=300), "lost_contact", staff)
    elif ending < 0.06:
        _close(case, day + timedelta(days=250), "re_recruited", staff)


def uuid4_from(chance: random.Random) -> UUID:
    return UUID(int=chance.getrandbits(128), version=4)


# How a child's stay ends, cumulatively by chance: a return (reunified, alternative care),
# tracing that failed (no return), or nothing recorded yet.
ENDINGS: list[tuple[float, type, bool, Callable[[date, str], dict[str, Any]]]] = [
    (
        0.66,
        ChildCase.Reunified,
        True,
        lambda day, staff: {
            "address": None,
            "recorded_by": staff,
            "reunified_on": day,
            "stage": "reunified",
        },
    ),
    (
        0.76,
        ChildCase.AlternativeCareArranged,
        True,
        lambda day, staff: {
            "kind": "kinship_care",
            "carer": "an aunt",
            "address": None,
            "arranged_by": staff,
            "arranged_on": day,
            "stage": "alternative_care",
        },
    ),
    (
        0.84,
        ChildCase.TracingClosedUnsuccessful,
        False,
        lambda day, staff: {
            "reason": "family_not_found",
            "notes": None,
            "closed_by": staff,
            "closed_on": day,
            "stage": "interim_care",
        },
    ),
]


def _return(chance: random.Random, case: SyntheticCase, day: date, staff: str) -> date | None:
    """The day the child returned to a family, if the child did."""
    outcome = chance.random()
    for up_to, event_class, returned, fields in ENDINGS:
        if outcome < up_to:
            case.intake(event_class, at_noon(day), **fields(day, staff))
            return day if returned else None
    return None


def _follow_up(chance: random.Random, case: SyntheticCase, returned: date, staff: str) -> None:
    plan = uuid4_from(chance)
    case.record(
        "followup",
        FollowUpPlan.PlanCreated,
        plan,
        at_noon(returned, 1),
        case_id=case.case_id,
        returned_on=returned,
        return_kind="reunified",
        caseworker=staff,
    )
    for number, after in enumerate(VISITS_AFTER_RETURN, start=1):
        due = returned + timedelta(days=after)
        case.record(
            "followup",
            FollowUpPlan.VisitScheduled,
            plan,
            at_noon(returned, 1),
            number=number,
            due_on=due,
        )
    for number, after in enumerate(VISITS_AFTER_RETURN, start=1):
        due = returned + timedelta(days=after)
        how = chance.random()
        if due > DATA_CUT or 0.1 <= how < 0.14:
            continue  # not due yet, or due and not recorded (overdue)
        if how < 0.1:
            case.record(
                "followup",
                FollowUpPlan.VisitMissed,
                plan,
                at_noon(due),
                number=number,
                reason="insecurity",
            )
            continue
        visited = due if how < 0.78 else due + timedelta(days=chance.randrange(1, 20))
        case.record(
            "followup",
            FollowUpPlan.VisitCompleted,
            plan,
            at_noon(visited),
            number=number,
            visited_on=visited,
            visited_by=staff,
            mode="home",
            wellbeing="good",
            attending_school=chance.random() < 0.3,
            livelihood_status="helping the family",
            family_acceptance="good",
            community_acceptance="fair",
            stigma_reported=False,
            security_threat=False,
            re_recruitment_threat=False,
            child_view=None,
        )


def _breakdown(case: SyntheticCase, returned: date, staff: str) -> None:
    """One reunification in about twelve breaks down within months. Drawn from the case's
    own stream, so that every other fact of the programme is the one it was before."""
    aside = random.Random(case.case_id.int)
    day = returned + timedelta(days=aside.randrange(30, 240))
    if aside.random() >= 0.08 or day > DATA_CUT:
        return
    case.intake(
        ChildCase.ReunificationBrokeDown,
        at_noon(day),
        reason=aside.choice(["family_rejection", "child_left", "economic_hardship"]),
        broke_down_on=day,
        notes="the family asked the caseworker for help",
        recorded_by=staff,
        stage="interim_care",
    )


def _referral(
    chance: random.Random, case: SyntheticCase, day: date, service: str, agency: str, staff: str
) -> None:
    referral = uuid4_from(chance)
    partner = PARTNERS[service]
    made = at_noon(day)
    case.record(
        "referral",
        Referral.ReferralMade,
        referral,
        made,
        case_id=case.case_id,
        agency=partner,
        service=service,
        purpose=SERVICE_PURPOSE[service],
        urgency="routine",
        categories=["education"],
        consent_ids=[],
        shared_data={},
        answer_by=made + timedelta(days=7),
        made_by=staff,
        referring_agency=agency,
    )
    answer = chance.random()
    answered = made + timedelta(hours=chance.lognormvariate(3.6, 0.8))  # a median of about 36 h
    if answer < 0.15:
        case.record(
            "referral",
            Referral.ReferralDeclined,
            referral,
            answered,
            message_id=str(uuid4_from(chance)),
            reason="full",
        )
        return
    if answer > 0.9:
        return  # not answered
    case.record(
        "referral",
        Referral.ReferralAccepted,
        referral,
        answered,
        message_id=str(uuid4_from(chance)),
    )
    if service in ("education", "vocational_training") and chance.random() < 0.7:
        milestone = "education_enrolled" if service == "education" else "training_completed"
        _milestone(chance, case, referral, answered + timedelta(days=20), milestone)
    if service == "livelihood" and chance.random() < 0.5:
        _milestone(chance, case, referral, answered + timedelta(days=60), "income_reported")
    if chance.random() < 0.5:
        done = (answered + timedelta(days=120)).date()
        case.record(
            "referral",
            Referral.ServiceCompleted,
            referral,
            at_noon(done),
            message_id=str(uuid4_from(chance)),
            completed_on=done,
        )


def _milestone(
    chance: random.Random, case: SyntheticCase, referral: UUID, at: datetime, milestone: str
) -> None:
    case.record(
        "referral",
        Referral.MilestoneReported,
        referral,
        at,
        message_id=str(uuid4_from(chance)),
        milestone=milestone,
        reported_on=at.date(),
        detail=None,
    )


def _close(case: SyntheticCase, day: date, reason: str, staff: str) -> None:
    case.intake(
        ChildCase.CaseClosed,
        at_noon(day),
        reason=reason,
        notes=None,
        closed_by=staff,
        closed_on=day,
        stage="closed",
    )


def erase(programme: SyntheticProgramme, keyring: Keyring) -> None:
    """Destroy the keys of the cases the programme erased, as intake's key shredder does."""
    for case_id in programme.erased:
        keyring.destroy(case_id)


def publish(programme: SyntheticProgramme, producer: KafkaProducer, topics: dict[str, str]) -> None:
    """Send every message to its service's topic (``topics``: service -> topic), keyed by
    its case as the outbox relay keys it."""
    futures = [
        producer.send(
            topics[service],
            value=message.to_bytes(),
            key=(message.partitionkey or "").encode(),
            headers=[("content-type", CONTENT_TYPE.encode())],
        )
        for service, message in programme.messages
    ]
    for future in futures:
        future.get(timeout=30)
