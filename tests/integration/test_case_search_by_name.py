"""The case list searched by a child's name through its keyed blind index: found by any whole
word of the name, accents and case aside; only within the caller's agency; by the corrected
name once corrected; never once the case is erased; and no name in clear in the list."""

from datetime import UTC, datetime

from fastapi.testclient import TestClient

from services.intake.service import build_runtime, create_app
from tests.integration.test_intake_journey import agency, wait_until
from tests.samples import boy_formally_released, registration
from tests.signin import supervisor_headers

START = datetime(2026, 10, 4, 12, 0, tzinfo=UTC)


def found(client: TestClient, name: str, **headers: str) -> list[str]:
    answer = client.post("/cases/search", json={"name": name}, headers=headers)
    assert answer.status_code == 200, answer.text
    return [case["case_id"] for case in answer.json()["items"]]


def test_a_child_is_found_by_name_and_lost_to_the_search_once_erased(settings, sqlite_env):
    runtime = build_runtime(settings, sqlite_env, clock=lambda: START)
    code, other = agency(), agency()
    with TestClient(create_app(runtime), headers=supervisor_headers(settings, code)) as client:
        girl = client.post("/cases", json=registration(registering_agency=code)).json()
        boy = client.post("/cases", json=boy_formally_released(registering_agency=code)).json()
        theirs = client.post(
            "/cases",
            json=registration(registering_agency=other),
            headers=supervisor_headers(settings, other),
        ).json()
        other_staff = supervisor_headers(settings, other)
        # Each case is on a partition of its own: the list learns of them in any order.
        assert wait_until(
            lambda: (
                found(client, "amani") == [girl["case_id"]]
                and found(client, "Ésaïe") == [boy["case_id"]]
                and found(client, "Amani", **other_staff) == [theirs["case_id"]]
            )
        )

        # Any whole word, in any order, accents and case aside; every word must match.
        assert found(client, "KUVUKA Amani") == [girl["case_id"]]
        assert found(client, "esaie") == [boy["case_id"]]
        assert found(client, "Amani Bahati") == []
        assert found(client, "Aman") == []  # whole words only
        # Another agency's child of the same name is not found by this one, and vice versa.
        assert found(client, "Amani Zawadi-Kuvuka", **other_staff) == [theirs["case_id"]]

        # A corrected name is found, the misspelt one no longer.
        corrected = client.post(
            f"/cases/{boy['case_id']}/corrections",
            json={"version": boy["version"], "name": "Isaïe Bahati Mugisho", "reason": "typo"},
        )
        assert corrected.status_code == 200, corrected.text
        assert wait_until(lambda: found(client, "Isaie") == [boy["case_id"]])
        assert found(client, "Esaie") == []

        # Nothing of a name is kept in clear: its words are keyed hashes.
        with runtime.database.transaction() as tx:
            (kept,) = tx.fetchall(
                "SELECT name_index FROM intake_case_list WHERE case_id = ?", (girl["case_id"],)
            )[0]
        assert "amani" not in kept.lower()
        assert len(kept.split()) == 3  # amani, zawadi, kuvuka

        erased = client.post(
            f"/cases/{girl['case_id']}/erasure",
            json={"version": girl["version"], "reason": "child_request"},
        )
        assert erased.status_code == 200, erased.text
        assert wait_until(lambda: found(client, "Amani") == [])
        with runtime.database.transaction() as tx:
            assert (
                tx.fetchall("SELECT 1 FROM intake_case_list WHERE case_id = ?", (girl["case_id"],))
                == []
            )

        refused = client.post("/cases/search", json={"name": "--"})
        assert refused.status_code == 422
