"""Many callers at once, through the intake service's HTTP API on SQLite.

Registrations at one agency never fail and never share a case number; commands on one case
based on the version each caller last saw are applied or refused with 409 (never a 500), and
the case's version counts exactly the ones applied. Each test prints its figures."""

import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx2 as httpx
from fastapi.testclient import TestClient

from services.intake.service import build_runtime, create_app
from tests.samples import registration
from tests.signin import staff_headers

CLIENTS = 50


def status_class(code: int) -> str:
    return {2: "2xx", 4: str(code), 5: "5xx"}.get(code // 100, str(code))


def run_concurrently(count: int, send: Callable[[int], httpx.Response]) -> list[httpx.Response]:
    with ThreadPoolExecutor(CLIENTS) as clients:
        return list(clients.map(send, range(count)))


def test_concurrent_registrations_at_one_agency_all_succeed_with_unique_numbers(
    settings, sqlite_env
):
    registrations = 2000  # about 13 s on two cores
    runtime = build_runtime(settings, sqlite_env)
    # No lifespan: the relay and consumers need not run for the numbers to be issued.
    intake = TestClient(
        create_app(runtime), headers=staff_headers(settings), raise_server_exceptions=False
    )
    started = time.perf_counter()
    answers = run_concurrently(registrations, lambda _: intake.post("/cases", json=registration()))
    seconds = time.perf_counter() - started
    runtime.application.close()

    statuses = Counter(status_class(answer.status_code) for answer in answers)
    numbers = {answer.json()["case_number"] for answer in answers if answer.status_code == 201}
    print(
        f"registrations sent {registrations} from {CLIENTS} clients: 2xx {statuses['2xx']}, "
        f"409 {statuses['409']}, 5xx {statuses['5xx']}, unique numbers {len(numbers)}, "
        f"{seconds:.1f} s ({registrations / seconds:.0f}/s)"
    )
    assert statuses == {"2xx": registrations}
    year = datetime.now(UTC).year
    assert numbers == {f"CD-KIN-{year}-{n:05d}" for n in range(1, registrations + 1)}


def test_concurrent_commands_on_one_case_are_applied_or_refused_and_counted(settings, sqlite_env):
    commands, per_client = 1000, 1000 // CLIENTS
    runtime = build_runtime(settings, sqlite_env)
    intake = TestClient(
        create_app(runtime), headers=staff_headers(settings), raise_server_exceptions=False
    )
    case = intake.post("/cases", json=registration()).json()
    path = f"/cases/{case['case_id']}/risk-level"

    def client(number: int) -> list[httpx.Response]:
        """Each step is based on the version this client last saw: the one its last change
        made, or the one a refusal named."""
        seen, answers = case["version"], []
        for step in range(per_client):
            answer = intake.post(
                path,
                json={
                    "version": seen,
                    "level": ("high", "medium", "low")[step % 3],
                    "reason": f"client {number}, step {step}",
                    "set_at": (datetime.now(UTC) - timedelta(seconds=1)).isoformat(),
                },
            )
            answers.append(answer)
            if answer.status_code == 200:
                seen = answer.json()["version"]
            elif answer.status_code == 409:
                seen = answer.json()["current_version"]
        return answers

    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as clients:
        answers = [answer for sent in clients.map(client, range(CLIENTS)) for answer in sent]
    seconds = time.perf_counter() - started
    final = intake.get(f"/cases/{case['case_id']}").json()["version"]
    runtime.application.close()

    statuses = Counter(status_class(answer.status_code) for answer in answers)
    print(
        f"commands sent {len(answers)} on one case from {CLIENTS} clients: "
        f"2xx {statuses['2xx']}, 409 {statuses['409']}, 5xx {statuses['5xx']}, "
        f"version {case['version']} -> {final}, {seconds:.1f} s"
    )
    assert len(answers) == commands
    assert set(statuses) <= {"2xx", "409"}
    assert statuses["2xx"] > 0
    # Each applied command recorded exactly one event; each refused one, none.
    assert final == case["version"] + statuses["2xx"]
