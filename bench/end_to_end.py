"""End to end on the running platform: from a caseworker's request to the consumer it is for.

Starts ``homeward up`` (SQLite stores, its own broker on 27093, services on 27011-27014) and
measures two legs at fixed arrival rates (open loop, latency counted from when each request
was due):

1. ``POST /cases`` on intake until a consumer of ``homeward.intake.events`` (what the referral
   and follow-up services read) receives the case's ``ChildRegistered``;
2. ``POST /referrals`` on the referral service, for a case registered in leg 1 with the
   child's consent, until the partner's own Kafka consumer (the partner's credentials, the
   partner's topic) receives the referral.

The baseline of each leg is the same path without our services: a bare kafka-python producer
(``acks=all``) sending a message of the same size to the same broker, and a consumer receiving
it. It never asserts a timing.

    .venv/bin/python bench/end_to_end.py --rates 50 200 --seconds 15
"""

import argparse
import asyncio
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
from kafka import KafkaConsumer, KafkaProducer

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the tests' samples and partner, and the bench's own modules

from bench.api_load import at_fixed_rate, percentile  # noqa: E402
from bench.figures import Figure, write_figures  # noqa: E402
from bench.homeward_up import Platform, running_platform  # noqa: E402
from shared.access import Role  # noqa: E402
from shared.localkafka import LocalBroker  # noqa: E402
from shared.settings import Settings  # noqa: E402
from shared.tokens import issue_local_token  # noqa: E402
from tests.partner import PartnerLogin, register_partner  # noqa: E402
from tests.samples import identity_consent, registration  # noqa: E402

PORTS = (27011, 27012, 27013, 27014)
BROKER_PORT = 27093
TARGET_RATE = 200
TARGET_P99_MS = 250.0
PARTNER = "SCH-01"


class Arrivals:
    """When each key first arrived on a topic, read by a consumer of its own."""

    def __init__(
        self, client: dict[str, Any], topic: str, key_of: Callable[[Any], str], group: str
    ) -> None:
        self.seen: dict[str, float] = {}
        self._stop = threading.Event()
        self._consumer = KafkaConsumer(
            topic,
            **client,
            group_id=group,
            auto_offset_reset="latest",
            enable_auto_commit=False,
        )
        self._key_of = key_of
        while not self._consumer.assignment():  # subscribed before the first request is sent
            self._consumer.poll(timeout_ms=200)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            for records in self._consumer.poll(timeout_ms=100).values():
                now = time.perf_counter()
                for record in records:
                    self.seen.setdefault(self._key_of(record), now)

    def wait_for(self, keys: set[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not keys <= self.seen.keys():
            time.sleep(0.1)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._consumer.close()


def record_key(record: Any) -> str:
    return record.key.decode() if record.key else ""


async def open_loop(
    rate: int, seconds: float, send: Callable[[httpx.AsyncClient, int], Any]
) -> tuple[dict[str, float], int]:
    """Send ``rate`` requests a second, each when due; the due time of each key it returns."""
    due_of: dict[str, float] = {}
    errors = 0

    limits = httpx.Limits(max_connections=2000, max_keepalive_connections=200)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def one(index: int, due: float) -> None:
            nonlocal errors
            key = await send(client, index)
            if key is None:
                errors += 1
            else:
                due_of[key] = due

        await at_fixed_rate(rate, seconds, one)
    return due_of, errors


def latencies(due_of: dict[str, float], arrivals: Arrivals) -> list[float]:
    arrivals.wait_for(set(due_of), timeout=60)
    return sorted(
        (arrivals.seen[key] - due) * 1000 for key, due in due_of.items() if key in arrivals.seen
    )


def leg_figures(
    leg: str, rate: int, measured: list[float], sent: int, errors: int, baseline: list[float]
) -> list[Figure]:
    lost = sent - errors - len(measured)
    figures = []
    for share in (0.50, 0.95, 0.99):
        target = share == 0.99 and rate == TARGET_RATE
        value = round(percentile(measured, share), 1)
        figures.append(
            Figure(
                item="e2e",
                name=f"{leg} {rate}/s p{share * 100:.0f} ({errors} errors, {lost} not seen)",
                value=value,
                unit="ms",
                baseline=round(percentile(baseline, share), 1),
                baseline_name="bare producer to consumer, same broker",
                target=f"p99 < {TARGET_P99_MS:g} ms" if target else "",
                met=(value < TARGET_P99_MS and errors == 0 and lost == 0) if target else None,
            )
        )
    return figures


def bare_latencies(client: dict[str, Any], rate: int, seconds: float, size: int) -> list[float]:
    """A bare producer (acks=all) to a consumer on a topic of the platform's partitions."""
    topic = "homeward.intake.events"  # the same topic and broker; other keys than the cases'
    arrivals = Arrivals(client, topic, record_key, f"bench-{uuid.uuid4().hex[:8]}")
    producer = KafkaProducer(**client, acks="all", linger_ms=0)
    due_of = {}
    began = time.perf_counter()
    try:
        for index in range(int(rate * seconds)):
            due = began + index / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            key = f"bench-bare-{uuid.uuid4()}"
            producer.send(topic, key=key.encode(), value=b"x" * size)
            due_of[key] = due
        producer.flush()
        return latencies(due_of, arrivals)
    finally:
        producer.close()
        arrivals.close()


def prepare_partner(up: Platform, admin: dict[str, str], folder: Path) -> PartnerLogin:
    with httpx.Client(base_url=up.url("referral"), timeout=30) as referrals:
        return register_partner(
            referrals,
            f"127.0.0.1:{BROKER_PORT}",
            PARTNER,
            "education",
            folder / "partner",
            name="School",
            kind="school",
            headers=admin,
        )


async def give_consents(up: Platform, staff: dict[str, str], cases: list[str]) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        semaphore = asyncio.Semaphore(8)

        async def consent(case_id: str) -> None:
            async with semaphore:
                case = await client.get(f"{up.url('intake')}/cases/{case_id}", headers=staff)
                given = identity_consent(PARTNER, "education", "2026-11-20")
                body = given | {"version": case.json()["version"]}
                answer = await client.post(
                    f"{up.url('intake')}/cases/{case_id}/consents", json=body, headers=staff
                )
                answer.raise_for_status()

        await asyncio.gather(*(consent(case_id) for case_id in cases))


def referral_body(case_id: str) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "agency": PARTNER,
        "service": "education",
        "purpose": "education",
        "categories": ["identity"],
    }


def wait_until_referable(up: Platform, staff: dict[str, str], case_id: str) -> None:
    """The referral service learns consents from Kafka: the last one given, once it is known
    there, means every earlier one is (one partition per case, but all were given before)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        answer = httpx.post(
            f"{up.url('referral')}/referrals", json=referral_body(case_id), headers=staff
        )
        if answer.status_code == 201:
            return
        time.sleep(0.5)
    raise SystemExit(f"the referral service never learnt the consent of {case_id}")


def referrer(
    up: Platform, staff: dict[str, str], pending: Iterator[str]
) -> Callable[[httpx.AsyncClient, int], Any]:
    async def refer(client: httpx.AsyncClient, _index: int) -> str | None:
        case_id = next(pending)
        answer = await client.post(
            f"{up.url('referral')}/referrals", json=referral_body(case_id), headers=staff
        )
        return case_id if answer.status_code == 201 else None

    return refer


def measure(rates: list[int], seconds: float, folder: Path) -> list[Figure]:
    figures: list[Figure] = []
    with running_platform(folder, "sqlite", PORTS, BROKER_PORT, 0) as up:
        signer = Settings(data_dir=up.data_dir)
        staff = {
            "Authorization": "Bearer "
            + issue_local_token(signer, sub="cw-0412", role=Role.CASEWORKER, agency="CD-KIN")
        }
        admin = {
            "Authorization": "Bearer "
            + issue_local_token(signer, sub="admin-1", role=Role.ADMIN, agency="HW-ADMIN")
        }
        partner = prepare_partner(up, admin, folder)
        kafka_admin = LocalBroker(up.data_dir / "kafka", port=BROKER_PORT).admin.client_kwargs()
        registered = Arrivals(kafka_admin, "homeward.intake.events", record_key, "bench-intake")
        referred = Arrivals(
            partner.kafka_python(),
            f"homeward.partner.{PARTNER}.referrals",
            record_key,
            partner.group("bench"),
        )
        body = registration()
        cases: dict[int, list[str]] = {}
        try:
            for rate in rates:
                baseline = bare_latencies(kafka_admin, rate, seconds, 1200)

                async def register(client: httpx.AsyncClient, _index: int) -> str | None:
                    answer = await client.post(
                        f"{up.url('intake')}/cases",
                        json=body,
                        headers=staff | {"Idempotency-Key": str(uuid.uuid4())},
                    )
                    return answer.json()["case_id"] if answer.status_code == 201 else None

                due_of, errors = asyncio.run(open_loop(rate, seconds, register))
                cases[rate] = list(due_of)
                measured = latencies(due_of, registered)
                figures += leg_figures(
                    "POST /cases to its message",
                    rate,
                    measured,
                    len(due_of) + errors,
                    errors,
                    baseline,
                )
            for rate in rates:
                asyncio.run(give_consents(up, staff, cases[rate]))
                wait_until_referable(up, staff, cases[rate][-1])
                refer = referrer(up, staff, iter(cases[rate][:-1]))

                # As many referrals as cases were registered at this rate, less the one that
                # waited for the consents to be known.
                due_of, errors = asyncio.run(open_loop(rate, seconds - 1 / rate, refer))
                measured = latencies(due_of, referred)
                figures += leg_figures(
                    "POST /referrals to the partner's consumer",
                    rate,
                    measured,
                    len(due_of) + errors,
                    errors,
                    bare_latencies(kafka_admin, rate, seconds, 1200),
                )
        finally:
            registered.close()
            referred.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="homeward-bench-e2e-") as folder:
        figures = measure(args.rates, args.seconds, Path(folder))
    print(f"\nend to end, open loop, {args.seconds:.0f} s per rate (latency from when due)")
    for f in figures:
        print(f"{f.name:<72}{f.value:>9.1f} ms   bare {f.baseline:>7.1f} ms")
    write_figures(args.json, figures)


if __name__ == "__main__":
    main()
