"""How many events per second the intake service records, in-process and through HTTP, beside
the bare eventsourcing library appending events of the same sizes to the same kind of store.

Everything is a SQLite file in WAL mode (the library's default for a file) in a temporary
directory; nothing is published (no broker: the relay's cost is ``relay_throughput.py``'s).
Two commands are timed: registering a child (the sample registration of ``tests/samples.py``,
a release and a handover: two events) and setting a case's risk level (one event, on a case
loaded first, as every command does). Through HTTP is Starlette's test client calling the
intake app in-process, as a caseworker's token allows. The baseline is an aggregate of the
bare library whose events carry a payload of the size our stored events have, sealed fields
included, created and changed the same number of times. Prints a table; ``--json FILE``
writes the figures (``bench/figures.py``). Never asserts a timing.
"""

import argparse
import base64
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from fastapi.testclient import TestClient

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the samples the tests register

from bench.figures import Figure, write_figures  # noqa: E402
from services.intake.api import ChildRegistration  # noqa: E402
from services.intake.app import IntakeApplication  # noqa: E402
from services.intake.domain import RiskAssessment, RiskLevel  # noqa: E402
from services.intake.service import build_runtime, create_app  # noqa: E402
from shared.access import Role  # noqa: E402
from shared.database import Database  # noqa: E402
from shared.keyring import CaseKeys, SqlKeyring, generate_master_key  # noqa: E402
from shared.persistence import utc_now  # noqa: E402
from shared.settings import Settings  # noqa: E402
from shared.tokens import TokenVerifier, ensure_local_signing_key, issue_local_token  # noqa: E402
from tests.samples import registration  # noqa: E402

CASES = 50  # the risk level is set on these in turn, so that no case grows long
REASON = "threats reported at the market"


class BareCase(Aggregate):
    """The baseline's aggregate: events of a given size, nothing sealed, no chain."""

    @event("Registered")
    def __init__(self, payload: str) -> None:
        self.payload = payload

    @event("Changed")
    def change(self, payload: str) -> None:
        self.payload = payload


def store(folder: Path, name: str) -> dict[str, str]:
    return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(folder / name)}


def rate(count: int, work: Callable[[int], object]) -> float:
    """Events per second of ``count`` calls, each appending one event per its ``events``."""
    began = time.perf_counter()
    for number in range(count):
        work(number)
    return count / (time.perf_counter() - began)


def stored_sizes(app: IntakeApplication, case_id: UUID) -> list[int]:
    """The sizes of a case's stored events (state bytes), in order."""
    return [len(stored.state) for stored in app.recorder.select_events(case_id)]


def in_process(folder: Path, count: int) -> tuple[dict[str, float], list[int], int]:
    keyring = SqlKeyring(
        Database.named("keyring", store(folder, "keyring.sqlite3")),
        base64.b64decode(generate_master_key()),
    )
    app = IntakeApplication(store(folder, "intake.sqlite3"), utc_now, CaseKeys(keyring, "intake"))
    try:
        sample = ChildRegistration.model_validate(registration()).to_domain(
            "CD-KIN", "cw-0412", "cw-0412"
        )
        cases = [app.register_child(sample) for _ in range(CASES)]
        per_registration = cases[0].version
        versions = {case.id: case.version for case in cases}

        def set_risk(number: int) -> None:
            case_id = cases[number % CASES].id
            risk = RiskAssessment(list(RiskLevel)[number % 3], REASON, "cw-0412", utc_now())
            versions[case_id] = app.set_risk_level(case_id, versions[case_id], risk).version

        rates = {
            "register": rate(count, lambda _: app.register_child(sample)) * per_registration,
            "set risk level": rate(count, set_risk),
        }
        return rates, stored_sizes(app, cases[0].id), per_registration
    finally:
        app.close()


def through_http(folder: Path, count: int) -> dict[str, float]:
    folder.mkdir()
    # No relay or consumer runs (no lifespan), so the broker is never asked for.
    settings = Settings(
        data_dir=folder, master_key=generate_master_key(), kafka_bootstrap="127.0.0.1:9"
    )
    ensure_local_signing_key(settings)
    runtime = build_runtime(settings, store(folder, "intake-http.sqlite3"))
    app = create_app(runtime)
    app.state.token_verifier = TokenVerifier(settings)
    token = issue_local_token(
        settings, sub="cw-0412", role=Role.CASEWORKER, agency="CD-KIN", grants=frozenset()
    )
    headers = {"Authorization": f"Bearer {token}"}
    client = TestClient(app)  # no lifespan: no relay or consumer runs
    try:

        def register(_: int) -> dict[str, Any]:
            answer = client.post("/cases", json=registration(), headers=headers)
            assert answer.status_code == 201, answer.text
            return answer.json()

        cases = [register(0) for _ in range(CASES)]
        per_registration = cases[0]["version"]
        versions = {case["case_id"]: case["version"] for case in cases}

        def set_risk(number: int) -> None:
            case_id = cases[number % CASES]["case_id"]
            body = {
                "version": versions[case_id],
                "level": list(RiskLevel)[number % 3].value,
                "reason": REASON,
                "set_at": datetime.now(UTC).isoformat(),
            }
            answer = client.post(f"/cases/{case_id}/risk-level", json=body, headers=headers)
            assert answer.status_code == 200, answer.text
            versions[case_id] = answer.json()["version"]

        return {
            "register": rate(count, register) * per_registration,
            "set risk level": rate(count, set_risk),
        }
    finally:
        runtime.application.close()


def bare(folder: Path, count: int, sizes: list[int], per_registration: int) -> dict[str, float]:
    """The bare library: the same number of events per command, of the same sizes (those of
    a case's registration, then of its last risk level)."""
    app: Application[UUID] = Application(store(folder, "bare.sqlite3"))
    try:
        first, *rest = ["x" * size for size in sizes[:per_registration]]
        changed = "x" * sizes[-1]

        def register(_: int) -> None:
            case = BareCase(first)
            for payload in rest:
                case.change(payload)
            app.save(case)

        cases = [BareCase(first) for _ in range(CASES)]
        app.save(*cases)

        def change(number: int) -> None:
            case = app.repository.get(cases[number % CASES].id)
            case.change(changed)
            app.save(case)

        return {
            "register": rate(count, register) * per_registration,
            "set risk level": rate(count, change),
        }
    finally:
        app.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=1000, help="of each kind (default 1000)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="homeward-bench-") as tmp:
        folder = Path(tmp)
        ours, sizes, per_registration = in_process(folder, args.commands)
        http = through_http(folder / "http", args.commands)
        baseline = bare(folder, args.commands, sizes, per_registration)
    print(
        f"stored event sizes: registration {sizes[:per_registration]} B, risk level {sizes[-1]} B"
    )
    figures = []
    print(f"\n{'figure':<34}{'events/s':>12}{'bare library':>14}{'ratio':>8}")
    for command in ours:
        for way, measured in (("in-process", ours), ("HTTP", http)):
            figure = Figure(
                "append",
                f"{command}, {way}",
                round(measured[command]),
                "events/s",
                round(baseline[command]),
                "bare eventsourcing, same sizes",
            )
            figures.append(figure)
            print(
                f"{figure.name:<34}{figure.value:>12,.0f}{figure.baseline:>14,.0f}{figure.ratio:>8}"
            )
    print(f"\ntook {time.perf_counter() - started:.0f} s")
    write_figures(args.json, figures)


if __name__ == "__main__":
    main()
