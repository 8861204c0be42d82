"""A child mother's children are cases of their own, linked both ways: a later needs
assessment keeps them, erasing one case leaves the others, and a link made in error is
removed from both cases."""

from fastapi.testclient import TestClient

from services.intake.service import build_runtime, create_app
from tests.samples import registration
from tests.signin import staff_headers, supervisor_headers


def test_a_child_mothers_children_are_cases_of_their_own_linked_both_ways(settings, sqlite_env):
    runtime = build_runtime(settings, sqlite_env)
    with TestClient(create_app(runtime), headers=staff_headers(runtime.settings)) as client:
        mother = client.post("/cases", json=registration()).json()
        children = []
        for name, born in (("Neema", "2026-02-01"), ("Baraka", "2026-10-20")):
            answer = client.post(
                f"/cases/{mother['case_id']}/children",
                json={
                    "version": mother["version"],
                    "name": name,
                    "sex": "female",
                    "date_of_birth": born,
                },
            )
            assert answer.status_code == 201, answer.text
            child = answer.json()
            mother = client.get(f"/cases/{mother['case_id']}").json()
            children.append(child)
            assert child["linked_cases"] == {mother["case_id"]: "mother"}
            assert child["registering_agency"] == mother["registering_agency"]
            assert child["caseworker"] == mother["caseworker"]
            assert child["roles"] == []
        neema, baraka = children
        assert mother["linked_cases"] == {neema["case_id"]: "child", baraka["case_id"]: "child"}
        assert neema["released_on"] == mother["released_on"]  # came out with her
        assert baraka["released_on"] == "2026-10-20"  # born after her release
        assert neema["case_number"] != baraka["case_number"]

        # A needs assessment that names no dependants keeps her a child mother.
        assessed = client.post(
            f"/cases/{mother['case_id']}/needs-assessment",
            json={
                "version": mother["version"],
                "needs": ["health"],
                "assessed_on": "2026-10-21",
            },
        )
        assert assessed.status_code == 200, assessed.text
        assert "child_mother" in assessed.json()["journey"]["protection_flags"]
        mother = assessed.json()

        # A link made in error goes from both cases; the history keeps it.
        never = client.post(
            f"/cases/{baraka['case_id']}/links/{neema['case_id']}/removal",
            json={"version": baraka["version"], "reason": "never linked"},
        )
        assert never.status_code == 409
        removed = client.post(
            f"/cases/{baraka['case_id']}/links/{mother['case_id']}/removal",
            json={"version": baraka["version"], "reason": "recorded with the wrong mother"},
        )
        assert removed.status_code == 200, removed.text
        assert removed.json()["linked_cases"] == {}
        mother = client.get(f"/cases/{mother['case_id']}").json()
        assert mother["linked_cases"] == {neema["case_id"]: "child"}

        # Erasing the mother's case leaves her children's.
        erased = client.post(
            f"/cases/{mother['case_id']}/erasure",
            json={"version": mother["version"], "reason": "child_request"},
            headers=supervisor_headers(runtime.settings, mother["registering_agency"]),
        )
        assert erased.status_code == 200, erased.text
        assert client.get(f"/cases/{neema['case_id']}").json()["name"] == "Neema"
