"""The access log end to end: a service records an access in its own store, its relay puts it
on ``homeward.audit.access``, and an auditor asks intake who opened the case."""

import uuid

from fastapi.testclient import TestClient

from services.intake.service import build_runtime, create_app
from shared.access import Caller, Role
from shared.accesslog import Access, Outcome
from shared.tokens import TokenVerifier, ensure_local_signing_key
from tests.running import wait_for
from tests.signin import local_token


def test_an_auditor_sees_who_opened_a_case_and_what_a_user_opened(settings, sqlite_env):
    ensure_local_signing_key(settings)
    runtime = build_runtime(settings, sqlite_env)
    app = create_app(runtime)
    app.state.token_verifier = TokenVerifier(settings)
    case_id, other_case = uuid.uuid4(), uuid.uuid4()
    reader = Caller(sub=f"cw-{uuid.uuid4().hex[:6]}", role=Role.CASEWORKER, agency="CD-KIN")
    supervisor = Caller(sub="sup-9", role=Role.SUPERVISOR, agency="CD-GOM")
    opened = [
        Access("read_case", Outcome.ALLOWED, "GET /cases/{case_id}", "case", reader, case_id),
        Access("read_case", Outcome.ALLOWED, "GET /cases/{case_id}", "case", reader, other_case),
        Access(
            "read_case",
            Outcome.BREAK_GLASS,
            "GET /cases/{case_id}",
            "case",
            supervisor,
            case_id,
            break_glass_reason="the child is missing since last night",
        ),
    ]
    auditor = {"Authorization": f"Bearer {local_token(settings, Role.AUDITOR, agency='UN-AUD')}"}
    with TestClient(app) as client:
        for access in opened:
            runtime.access_log.record(access)

        def who_opened() -> list:
            response = client.get(
                "/audit/access", params={"case_id": str(case_id)}, headers=auditor
            )
            assert response.status_code == 200, response.text
            return len(response.json()) == 2 and response.json()

        newest, oldest = wait_for(who_opened, "the case's accesses in the log")

        def what_the_user_opened() -> list:
            opened = client.get(
                "/audit/access", params={"accessed_by": reader.sub}, headers=auditor
            )
            return len(opened.json()) == 2 and opened.json()

        # The two cases' records travel on different partitions: each arrives in its own time.
        by_user = wait_for(what_the_user_opened, "both of the user's accesses in the log")
        to_review = client.get("/audit/access", params={"outcome": "break_glass"}, headers=auditor)
        as_caseworker = client.get(
            "/audit/access", headers={"Authorization": f"Bearer {local_token(settings)}"}
        )

    assert (newest["accessed_by"], newest["outcome"]) == ("sup-9", "break_glass")
    assert (oldest["accessed_by"], oldest["caller_agency"]) == (reader.sub, "CD-KIN")
    assert oldest["service"] == "intake"
    assert "missing" not in str(newest)  # the reason stays sealed in the service's store
    assert {row["case_id"] for row in by_user} == {str(case_id), str(other_case)}
    assert [row["accessed_by"] for row in to_review.json()] == ["sup-9"]
    assert as_caseworker.status_code == 403
