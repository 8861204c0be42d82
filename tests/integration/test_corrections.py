"""A misspelt name is corrected as a fact: the case shows the corrected value, its timeline
keeps both, and the case list and the referral service learn it through Kafka."""

import uuid

from tests.integration.test_consent_binds import consent, seen
from tests.integration.test_referrals import (
    clock,  # noqa: F401 - fixtures
    education_referral,
    platform,  # noqa: F401
    unique_agency,
    wait_until,
)
from tests.partner import register_partner
from tests.samples import registration


def test_a_misspelt_name_is_corrected_everywhere_and_the_history_keeps_both(
    platform,  # noqa: F811
    settings,
    tmp_path,
):
    intake, referrals, referral_runtime = platform
    school = unique_agency("SCH")
    register_partner(referrals, settings.kafka_bootstrap, school, "education", tmp_path / "k")
    case = intake.post("/cases", json=registration(name="Amani Zawdi")).json()
    case_id = case["case_id"]
    unchanged = intake.post(
        f"/cases/{case_id}/corrections",
        json={"version": case["version"], "name": "Amani Zawdi", "reason": "checked again"},
    )
    assert unchanged.status_code == 409
    assert "every value given is the one recorded" in unchanged.json()["detail"]
    nothing = intake.post(
        f"/cases/{case_id}/corrections", json={"version": case["version"], "reason": "typo"}
    )
    assert nothing.status_code == 422
    emptied = intake.post(
        f"/cases/{case_id}/corrections",
        json={"version": case["version"], "name": None, "reason": "typo"},
    )
    assert emptied.status_code == 422
    assert "name cannot be emptied" in emptied.text

    corrected = intake.post(
        f"/cases/{case_id}/corrections",
        json={
            "version": case["version"],
            "name": "Amani Zawadi",
            "estimated_age": 16,
            "reason": "Spelling checked with her aunt; age from her school card.",
        },
    )
    assert corrected.status_code == 200, corrected.text
    case = corrected.json()
    assert (case["name"], case["estimated_age"]) == ("Amani Zawadi", 16)
    timeline = intake.get(f"/cases/{case_id}/timeline").json()
    types = [entry["type"].split(".")[3] for entry in timeline]
    assert types.count("FieldCorrected") == 2
    [registered] = [e for e in timeline if e["type"].endswith("ChildRegistered.v2")]
    assert registered["data"]["name"] == "Amani Zawdi"  # the registration as it was
    assert {e["data"]["value"] for e in timeline if "FieldCorrected" in e["type"]} == {
        "Amani Zawadi",
        16,
    }
    wait_until(
        lambda: any(
            row["case_id"] == case_id and row["name"] == "Amani Zawadi"
            for row in intake.get("/cases", params={"limit": 500}).json()["items"]
        ),
        what="the corrected name in the case list",
    )

    case = consent(intake, case, "child_consent", school)
    seen(referral_runtime, case, 1)
    wait_until(
        lambda: (
            referral_runtime.application.intake.case_data(uuid.UUID(case_id), "test")[0]["name"]
            == "Amani Zawadi"
        ),
        what="the correction seen by the referral service",
    )
    made = referrals.post("/referrals", json=education_referral(case_id, school))
    assert made.status_code == 201, made.text
    assert made.json()["shared_data"]["name"] == "Amani Zawadi"
