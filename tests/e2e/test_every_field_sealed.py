"""The every-field test: a child whose every free-text field holds a marker of its own is taken
through intake, consent, tracing, reunification, a declined and an answered referral, and
follow-up visits. Every byte the platform wrote (event stores, keyring, read models, the
broker's log segments, partner topics included) holds no marker, plain, base64 or UTF-16;
after erasure neither, and the platform's own code, in a fresh process, brings none back."""

import base64
import functools
import json
import os
import sys
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from services.intake.reports.projection import ERASED_CASE, PROFILE_FIELD
from shared.access import Grant, Role
from shared.cli import kafka_env
from shared.keyring import CaseKeys, open_keyring
from shared.settings import REPO_ROOT
from tests.conftest import as_admin, postgres_data_on_disk, postgres_store, stored_uncompressed
from tests.partner import partner_keys, read_messages
from tests.processes import printed_by
from tests.running import running_services, sqlite_stores, wait_for
from tests.signin import (
    admin_headers,
    local_token,
    partner_headers,
    staff_headers,
    supervisor_headers,
)

STAFF = "cw-0412"  # staff ids are allow-listed: no marker in them


def statistics_profile(intake: Any, case_id: str) -> Any:
    """The case's profile in intake's statistics, opened; the mark of an erased case as it
    is; None before the case was read."""
    runtime = intake.app.state.runtime
    with runtime.database.transaction() as tx:
        rows = tx.fetchall(
            "SELECT sealed_profile FROM statistics_case_profiles WHERE case_id = ?", (case_id,)
        )
    if not rows or rows[0][0] == ERASED_CASE:
        return rows[0][0] if rows else None
    key = runtime.application.case_keys.for_opening(uuid.UUID(case_id), "test")
    return key.open(PROFILE_FIELD, json.loads(rows[0][0]))


def encodings(marker: str) -> list[bytes]:
    """The forms a marker could take at rest: plain, UTF-16 either way round, and base64
    (standard and URL-safe) at each of the three alignments it can fall on in a longer text."""
    plain = marker.encode()
    forms = [plain, marker.encode("utf-16-le"), marker.encode("utf-16-be")]
    for offset in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(b"\0" * offset + plain)
            start, end = -(-offset // 3) * 4 + 4, (offset + len(plain)) // 3 * 4
            forms.append(encoded[start:end])
    return forms


def hits(markers: dict[str, str], roots: list[Path], prefix: str) -> list[str]:
    """Every (field, file) where a marker's form is found.

    The broker's preallocated indexes make a gigabyte, so a file is first screened once per
    form of ``prefix``, which most markers share (each encoding of the prefix is part of the
    same encoding of every such marker), and of each marker without it; only a file that
    passes is looked at marker by marker."""
    untagged = [marker for marker in markers.values() if not marker.startswith(prefix)]
    screen = [form for text in (prefix, *untagged) for form in encodings(text)]
    found = []
    files = [path for root in roots for path in root.rglob("*") if path.is_file()]
    for path in files:
        content = path.read_bytes()
        if any(form in content for form in screen):
            for field, marker in markers.items():
                if any(form in content for form in encodings(marker)):
                    found.append(f"{field} in {path}")
    return found


# The platform's own code, in a fresh process, opening every event of every service's store
# with the keyring as the environment places them.
DUMP_STORES = """
from datetime import UTC, datetime
from services.followup.app import FollowUpApplication
from services.intake.app import IntakeApplication
from services.referral.app import ReferralApplication
from shared.keyring import CaseKeys, open_keyring
from shared.settings import Settings

keyring = open_keyring(Settings())
for application_class in (IntakeApplication, ReferralApplication, FollowUpApplication):
    application = application_class(
        None, lambda: datetime.now(UTC), CaseKeys(keyring, application_class.name)
    )
    for item in application.recorder.select_notifications(start=1, limit=100_000):
        print(application.mapper.to_domain_event(item))
"""


@pytest.fixture(params=["sqlite", "postgres"])
def platform(request, settings, tmp_path):
    """The three services on one kind of store; the folders where that kind keeps its bytes;
    and the settings of each service's store (and the keyring's)."""
    if request.param == "sqlite":
        store_env = sqlite_stores(tmp_path)
        folders = lambda: [tmp_path]  # noqa: E731
    else:
        cluster = request.getfixturevalue("postgres_cluster")
        store_env = functools.cache(lambda _name: postgres_store(cluster))
        folders = lambda: [tmp_path, postgres_data_on_disk()]  # noqa: E731
    with running_services(settings, store_env) as services:
        if request.param == "postgres":
            for name in ("intake", "referral", "followup", "keyring"):
                stored_uncompressed(store_env(name))
        yield services, folders, store_env


def test_no_field_of_a_child_is_readable_at_rest_and_erasure_leaves_none(
    platform, settings, kafka_broker, tmp_path
):
    (clock, intake, referral, followup, _keyring), folders, store_env = platform
    tag = uuid.uuid4().hex[:8]
    prefix = f"Zq{tag}"
    markers: dict[str, str] = {}

    def mark(field: str) -> str:
        markers[field] = f"{prefix}{field.replace('.', '')[:18]}Xv"
        return markers[field]

    suffix = tag[:4].upper()
    agency, school, training = f"CD-{suffix}", f"SCH-{suffix}", f"LIV-{suffix}"
    for client in (intake, referral, followup):  # the case's caseworker, on every service
        client.headers.update(staff_headers(settings, agency=agency, sub=STAFF))
    created = intake.post(
        "/cases",
        json={
            "name": mark("name"),
            "date_of_birth": "2011-03-14",
            "languages": ["sw"],
            "notes": {"care": mark("notes.care"), "family_tracing": mark("notes.tracing")},
            "release": {
                "date": "2026-10-03",
                "place": mark("release.place"),
                "how_left": "escape",
                "separated_from_adults": True,
            },
            "armed_group": {"name": mark("armed_group.name"), "kind": "non_state_armed_group"},
            "roles": ["support", "sexual_purposes"],
            "sex": "female",
            "estimated_age": 15,
            "registering_agency": agency,
            "caseworker": STAFF,
            "handover": {
                "from_actor": mark("handover.from_actor"),
                "to_agency": mark("handover.to_agency"),
                "protocol": mark("handover.protocol"),
                "at": "2026-10-04T09:30:00+02:00",
            },
        },
    )
    assert created.status_code == 201, created.text
    case = created.json()
    case_id = case["case_id"]

    def step(path: str, **body) -> None:
        nonlocal case
        response = intake.post(
            f"/cases/{case_id}/{path}", json={"version": case["version"], **body}
        )
        assert response.status_code in (200, 201), f"{path}: {response.text}"
        case = response.json()

    step(
        "age-assessment",
        method="interview",
        result="uncertain",
        assessed_on="2026-10-04",
        notes=mark("age.notes"),
    )
    step(
        "interim-care",
        kind="interim_care_centre",
        carer=mark("care.carer"),
        address=mark("care.address"),
        entered_on="2026-10-04",
    )
    step(
        "needs-assessment",
        needs=["health", "education"],
        flags=["separated"],
        dependants=[{"name": mark("dependant.name"), "sex": "female"}],
        sexual_violence_survivor=True,
        sexual_violence_details=mark("sexual_violence"),
        assessed_on="2026-10-04",
        notes=mark("needs.notes"),
    )
    step(
        "risk-level",
        level="high",
        reason=mark("risk.reason"),
        set_at="2026-10-04T07:00:00Z",
    )
    step(
        "risk-response",
        action=mark("risk.action"),
        responded_at="2026-10-04T08:00:00Z",
    )
    step(
        "detention",
        place=mark("detention.place"),
        detaining_authority=mark("detention.authority"),
        started_on="2026-10-03",
        legal_aid_provider=mark("detention.legalaid"),
    )
    step("detention/end", ended_on="2026-10-04", outcome="released_to_child_protection")
    step(
        "maturity-assessment",
        mature=True,
        assessed_on="2026-10-04",
        notes=mark("maturity.notes"),
    )
    step(
        "disclosure-refusals",
        purpose="media",
        recipients=["CD-RADIO"],
        categories=["identity"],
        refused_on="2026-10-04",
    )
    for purpose, recipients, categories in (
        ("family_tracing", ["CD-ICRC"], ["identity", "family"]),
        ("education", [school], ["identity", "contact_and_location", "psychosocial"]),
        ("livelihood", [training], ["identity"]),
    ):
        step(
            "consents",
            given_by="child_consent",
            purpose=purpose,
            recipients=recipients,
            categories=categories,
            given_on="2026-10-04",
        )
    step(
        "tracing",
        tracing_agency="CD-ICRC",
        started_on="2026-10-04",
        sought=mark("tracing.sought"),
        last_known_place=mark("tracing.place"),
    )
    step(
        "tracing/leads",
        source="community",
        lead=mark("tracing.lead"),
        recorded_on="2026-10-04",
    )
    clock.to(date(2026, 10, 12))
    markers["family.phone"] = "+243 97 318 4462"
    step(
        "tracing/family-located",
        relationship="mother",
        family_members=[mark("family.member")],
        whereabouts=mark("family.whereabouts"),
        phone=markers["family.phone"],
        relationship_verified=True,
        located_on="2026-10-10",
    )
    step(
        "tracing/family-assessment",
        willing=True,
        able=True,
        safe=True,
        child_willing=True,
        assessed_on="2026-10-11",
        notes=mark("family.notes"),
    )
    for side in ("child", "family"):
        step(
            "tracing/relationship-verification",
            verified_with=side,
            verified_on="2026-10-11",
            notes=mark(f"verification.{side}"),
        )
    step(
        "tracing/return-check",
        community_acceptance="good",
        re_recruitment_risk="low",
        checked_on="2026-10-11",
        notes=mark("return.check"),
    )
    approved = intake.post(
        f"/cases/{case_id}/tracing/return-approval",
        json={
            "version": case["version"],
            "reason": mark("return.reason"),
            "approved_on": "2026-10-11",
        },
        headers=supervisor_headers(settings, agency),
    )
    assert approved.status_code == 200, approved.text
    case = approved.json()
    step(
        "interim-care/end",
        left_on="2026-10-12",
        exit_reason="family_reunification",
    )
    step("reunification", reunified_on="2026-10-12", address=mark("home.address"))
    step(
        "case-plan",
        goals={"education": mark("plan.goal")},
        child_participated=True,
        child_views=mark("plan.views"),
        agreed_on="2026-10-12",
    )

    # Referrals: the school declines with a reason, the programme reports a milestone.
    answers = {}
    for partner, service, categories in (
        (school, "education", ["identity", "contact_and_location", "psychosocial"]),
        (training, "livelihood", ["identity"]),
    ):
        public_key = partner_keys(tmp_path / "partners" / partner)
        registered = referral.post(
            "/partners",
            json={
                "agency": partner,
                "name": partner,
                "kind": "humanitarian",
                "country": "CD",
                "services": [service],
                "public_key": public_key,
            },
            headers=admin_headers(settings),
        )
        assert registered.status_code == 201, registered.text
        body = {
            "case_id": case_id,
            "agency": partner,
            "service": service,
            "purpose": service,
            "categories": categories,
            "written": {"psychosocial_needs": mark("referral.needs")}
            if "psychosocial" in categories
            else {},
        }
        made = wait_for(
            lambda body=body: (
                (r := referral.post("/referrals", json=body)).status_code == 201 and r
            ),
            f"the referral to {partner}",
        )
        answers[partner] = made.json()["referral_id"]

    def answer(partner: str, type_name: str, **data) -> None:
        response = referral.post(
            f"/partners/{partner}/referrals/{answers[partner]}/answers",
            json={"type": type_name, "data": {"referral_id": answers[partner], **data}},
            headers=partner_headers(settings, partner),
        )
        assert response.status_code == 200, response.text

    answer(school, "ReferralDeclined", reason=mark("referral.decline"))
    answer(training, "ReferralAccepted")
    answer(training, "ServiceStarted", started_on="2026-10-20")
    answer(
        training,
        "MilestoneReported",
        milestone="livelihood_started",
        reported_on="2026-10-21",
        detail=mark("referral.detail"),
    )

    # Follow-up: a visit with the child's own words, a missed visit, a reassessment.
    plan = wait_for(
        lambda: (r := followup.get(f"/plans/{case_id}")).status_code == 200 and r.json(),
        "the follow-up plan",
    )
    clock.to(date(2026, 10, 27))
    done = followup.post(
        f"/plans/{case_id}/visits/1/completion",
        json={
            "version": plan["version"],
            "visited_on": "2026-10-27",
            "mode": "school",
            "wellbeing": "good",
            "attending_school": True,
            "livelihood_status": mark("visit.livelihood"),
            "family_acceptance": "good",
            "community_acceptance": "fair",
            "stigma_reported": False,
            "security_threat": False,
            "re_recruitment_threat": False,
            "child_view": mark("visit.child_view"),
        },
    )
    assert done.status_code == 200, done.text
    clock.to(date(2026, 11, 13))
    missed = followup.post(
        f"/plans/{case_id}/visits/2/missed",
        json={"version": done.json()["version"], "reason": mark("visit.missed")},
    )
    assert missed.status_code == 200, missed.text
    reassessed = followup.post(
        f"/plans/{case_id}/risk",
        json={"version": missed.json()["version"], "level": "medium", "reason": mark("plan.risk")},
    )
    assert reassessed.status_code == 200, reassessed.text

    # Everything reached the topics, partner topics included, before the disks are read.
    wait_for(
        lambda: (
            len(
                read_messages(
                    as_admin(settings),
                    "homeward.followup.events",
                    key=case_id,
                    expect=12,
                    timeout=5,
                )
            )
            >= 12
        ),
        "follow-up's messages",
    )
    for partner in (school, training):
        assert read_messages(
            as_admin(settings), f"homeward.partner.{partner}.referrals", key=case_id
        )
    # Intake's statistics followed the case on the three topics: its store holds them too.
    wait_for(
        lambda: (
            (profile := statistics_profile(intake, case_id)) is not None
            and profile.get("visits", {}).get("2", {}).get("missed")
            and len(profile.get("referrals", {})) == 2
        ),
        "the case in intake's statistics",
    )
    assert len(markers) >= 30
    assert hits(markers, [*folders(), kafka_broker.data_dir], prefix) == []
    # The grep reads the right files: an allow-listed value of the same events is there.
    assert any(STAFF.encode() in path.read_bytes() for path in kafka_broker.data_dir.rglob("*.log"))

    # Erasure: recorded, then the key destroyed; every service stops acting on the case.
    erased = intake.post(
        f"/cases/{case_id}/erasure",
        json={"version": case["version"], "reason": "child_request"},
        headers=supervisor_headers(settings, agency),
    )
    assert erased.status_code == 200, erased.text
    assert erased.json()["name"] == "[erased]"
    cancelled = wait_for(
        lambda: (
            (r := followup.get(f"/plans/{case_id}")).status_code == 200
            and r.json()["cancelled"]
            and r.json()
        ),
        "the follow-up plan cancelled",
    )
    refused = followup.post(
        f"/plans/{case_id}/visits/3/missed", json={"version": cancelled["version"], "reason": "x"}
    )
    assert refused.status_code == 409
    # The referral service learns of the erasure from Kafka: once it withdrew the data it sent,
    # it refuses new referrals for the case.
    wait_for(
        lambda: referral.get(f"/referrals/{answers[training]}").json()["state"] == "data_withdrawn",
        "the referral's data withdrawn",
    )
    again = referral.post(
        "/referrals",
        json={
            "case_id": case_id,
            "agency": training,
            "service": "livelihood",
            "purpose": "livelihood",
            "categories": ["identity"],
        },
    )
    assert again.status_code == 404
    wait_for(lambda: statistics_profile(intake, case_id) == ERASED_CASE, "the profile erased")
    assert hits(markers, [*folders(), kafka_broker.data_dir], prefix) == []

    # The platform's own code, in a fresh process, opens nothing of the child any more.
    env = {
        **os.environ,
        **{
            f"{name.upper()}_{key}": value
            for name in ("intake", "referral", "followup", "keyring")
            for key, value in store_env(name).items()
        },
        "HOMEWARD_DATA_DIR": str(settings.data_dir),
        **kafka_env(settings),
        "HOMEWARD_MASTER_KEY": settings.master_key.get_secret_value(),
        "HOMEWARD_AUDIT_TOKEN": local_token(
            settings, Role.AUDITOR, agency="UN-AUDIT", sub="au-0001", grants=frozenset(Grant)
        ),
    }

    def fresh_process(*command: str) -> str:
        return printed_by([sys.executable, *command], env, REPO_ROOT)

    replayed = fresh_process("-m", "shared.cli", "audit", "case", case_id)
    assert "CaseErased" in replayed
    stored = fresh_process("-c", DUMP_STORES)
    assert "CaseErased" in stored  # the intake store was read...
    assert "VisitMissed" in stored  # ...and so was follow-up's
    for seen in (replayed, stored):
        assert [field for field, marker in markers.items() if marker in seen] == []
    fresh_keys = CaseKeys(open_keyring(settings, store_env("keyring")), "audit")
    assert fresh_keys.for_opening(uuid.UUID(case_id), "audit") is None
