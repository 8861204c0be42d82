"""Consent binds every referral as the child grows: the age table on the child's age today,
the maturity assessment, the child's refusals; through the intake API, Kafka and the
referral API, as a caseworker meets them."""

import uuid
from datetime import UTC, datetime

from tests.integration.test_referrals import (
    clock,  # noqa: F401 - fixtures
    education_referral,
    platform,  # noqa: F401
    unique_agency,
    wait_until,
)
from tests.partner import register_partner
from tests.samples import registration


def consent(intake, case: dict, given_by: str, agency: str, **changes) -> dict:
    given = intake.post(
        f"/cases/{case['case_id']}/consents",
        json={
            "version": case["version"],
            "given_by": given_by,
            "purpose": "education",
            "recipients": [agency],
            "categories": ["identity"],
            "given_on": "2026-11-20",
            **changes,
        },
    )
    assert given.status_code == 201, given.text
    return given.json()


def seen(referral_runtime, case: dict, consents: int) -> None:
    view = referral_runtime.application.intake
    case_id = uuid.UUID(case["case_id"])
    wait_until(
        lambda: len(view.consents(case_id)) == consents and view.case_data(case_id, "test"),
        what="the consents seen by the referral service",
    )


def test_the_age_table_binds_referrals_as_the_child_grows(platform, settings, tmp_path, clock):  # noqa: F811
    intake, referrals, referral_runtime = platform
    first, second = unique_agency("SCH"), unique_agency("SCH")
    for school in (first, second):
        register_partner(
            referrals, settings.kafka_bootstrap, school, "education", tmp_path / school
        )
    case = intake.post(
        "/cases", json=registration(date_of_birth="2012-06-01", estimated_age=14)
    ).json()
    assert case["age"] == 14
    case = consent(intake, case, "caregiver_consent", first)
    seen(referral_runtime, case, 1)
    alone = referrals.post("/referrals", json=education_referral(case["case_id"], first))
    assert alone.status_code == 409
    assert "rule 'who decides by age'" in alone.json()["detail"]
    assert "the child is 14" in alone.json()["detail"]
    case = consent(intake, case, "child_assent", first)
    seen(referral_runtime, case, 2)
    made = referrals.post("/referrals", json=education_referral(case["case_id"], first))
    assert made.status_code == 201, made.text
    assert len(made.json()["consent_ids"]) == 2  # the caregiver's consent and the assent

    case = consent(intake, case, "caregiver_consent", second)
    case = consent(intake, case, "child_assent", second)
    seen(referral_runtime, case, 4)
    clock.now = datetime(2027, 6, 1, 9, 0, tzinfo=UTC)  # the 15th birthday
    grown = intake.get(f"/cases/{case['case_id']}").json()
    assert grown["age"] == 15
    assert "own_consent_needed" in grown["alerts"]
    assert len(grown["consents_to_renew"]) == 2
    refused = referrals.post("/referrals", json=education_referral(case["case_id"], second))
    assert refused.status_code == 409
    assert "at 15-17, the child's own consent" in refused.json()["detail"]
    void = intake.post(
        f"/cases/{case['case_id']}/consents",
        json={
            "version": grown["version"],
            "given_by": "caregiver_consent",
            "purpose": "education",
            "recipients": [second],
            "categories": ["identity"],
            "given_on": "2027-06-01",
        },
    )
    assert void.status_code == 422
    assert "record the child's own consent" in void.json()["detail"]
    case = consent(intake, grown, "child_consent", second, given_on="2027-06-01")
    seen(referral_runtime, case, 5)
    assert (
        referrals.post("/referrals", json=education_referral(case["case_id"], second)).status_code
        == 201
    )

    clock.now = datetime(2030, 6, 1, 9, 0, tzinfo=UTC)  # the 18th birthday
    adult = intake.get(f"/cases/{case['case_id']}").json()
    assert adult["age"] == 18
    assert "consent_lapsed_at_18" in adult["alerts"]  # the first school's consents


def test_at_13_the_child_consents_alone_once_assessed_mature(platform, settings, tmp_path):  # noqa: F811
    intake, referrals, referral_runtime = platform
    school = unique_agency("SCH")
    register_partner(referrals, settings.kafka_bootstrap, school, "education", tmp_path / "k")
    case = intake.post(
        "/cases", json=registration(date_of_birth="2013-05-01", estimated_age=13)
    ).json()
    own = {
        "version": case["version"],
        "given_by": "child_consent",
        "purpose": "education",
        "recipients": [school],
        "categories": ["identity"],
        "given_on": "2026-11-20",
    }
    early = intake.post(f"/cases/{case['case_id']}/consents", json=own)
    assert early.status_code == 422
    assert "only with a recorded maturity assessment" in early.json()["detail"]
    assessed = intake.post(
        f"/cases/{case['case_id']}/maturity-assessment",
        json={"version": case["version"], "mature": True, "assessed_on": "2026-11-21"},
    )
    assert assessed.status_code == 200, assessed.text
    assert assessed.json()["maturity_assessed"] is True
    case = consent(intake, assessed.json(), "child_consent", school)
    seen(referral_runtime, case, 1)
    wait_until(
        lambda: referral_runtime.application.intake.case_data(uuid.UUID(case["case_id"]), "test")[
            0
        ].get("maturity_assessed"),
        what="the maturity assessment seen by the referral service",
    )
    made = referrals.post("/referrals", json=education_referral(case["case_id"], school))
    assert made.status_code == 201, made.text


def test_the_childs_refusal_blocks_a_referral_whatever_consent_says(
    platform,  # noqa: F811
    settings,
    tmp_path,
):
    intake, referrals, referral_runtime = platform
    school = unique_agency("SCH")
    register_partner(referrals, settings.kafka_bootstrap, school, "education", tmp_path / "k")
    case = intake.post("/cases", json=registration()).json()  # 15
    case = consent(intake, case, "child_consent", school)
    refused = intake.post(
        f"/cases/{case['case_id']}/disclosure-refusals",
        json={"version": case["version"], "recipients": [school], "refused_on": "2026-11-21"},
    )
    assert refused.status_code == 201, refused.text
    seen(referral_runtime, case, 1)
    wait_until(
        lambda: referral_runtime.application.intake.case_data(uuid.UUID(case["case_id"]), "test")[
            0
        ].get("objections"),
        what="the refusal seen by the referral service",
    )
    blocked = referrals.post("/referrals", json=education_referral(case["case_id"], school))
    assert blocked.status_code == 409
    assert "the child's objection blocks the disclosure" in blocked.json()["detail"]
