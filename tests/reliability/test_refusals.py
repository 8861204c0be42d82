"""Out-of-range paging is the caller's mistake (422 saying what to fix), never a 500."""

from fastapi.testclient import TestClient

from services.intake.service import build_runtime, create_app
from shared.access import Grant, Role
from shared.api import MAX_OFFSET
from tests.signin import Tokens, staff_headers


def test_paging_past_what_a_database_integer_holds_is_refused_with_422(settings, sqlite_env):
    auditor = Tokens(settings).headers(Role.AUDITOR, "UN-AUD", "au-1", frozenset(Grant))
    with TestClient(create_app(build_runtime(settings, sqlite_env))) as intake:
        answers = {
            route: intake.get(route, params={"offset": 2**63}, headers=headers)
            for route, headers in (
                ("/cases", staff_headers(settings)),
                ("/audit/access", auditor),
            )
        }
        staff = staff_headers(settings)
        within = intake.get("/cases", params={"offset": MAX_OFFSET}, headers=staff)
    for route, answer in answers.items():
        assert answer.status_code == 422, (route, answer.text)
        assert "offset" in answer.json()["detail"], route
    assert within.status_code == 200
    assert within.json()["items"] == []
