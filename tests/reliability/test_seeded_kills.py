"""Processes SIGKILLed at seeded points of a scripted journey, and restarted: the journeys end as
an undisturbed run of the same script ends, and the intake topic holds exactly the stored events.

The script registers children (with an ``Idempotency-Key``) and takes each from consent through
tracing to reunification, which makes a follow-up plan through Kafka. A caseworker's client
retries whatever got no answer: a registration under the same key, a step with the version it
was based on (applied once; if an earlier attempt was applied and its answer lost, the step is
answered 409 and the client finds it recorded by reading the case). A ``random.Random(seed)``
(``HOMEWARD_KILL_SEED``) picks the kill points: the intake service mid-request, right after a
commit whose answer is then lost, or while its relay publishes what a request recorded; the
follow-up service between two steps. Each process killed is started again at once. The test
session's broker is shared with other tests and never killed here.
"""

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import IO, Any
from uuid import UUID

import httpx2 as httpx
import pytest
from eventsourcing.utils import get_topic
from kafka import KafkaConsumer, TopicPartition

from services.intake.domain import ChildCase
from shared.cli import kafka_env, local_broker, with_local_broker
from shared.envelope import event_id
from shared.kafka import event_topic
from shared.keyring import generate_master_key
from shared.localkafka import port_is_open
from shared.settings import Settings
from tests import samples
from tests.conftest import as_admin
from tests.e2e.test_platform_up import healthy
from tests.processes import serve, up_env
from tests.reliability.test_two_instances import ids_about, relay_of
from tests.signin import admin_headers, local_settings, staff_headers, supervisor_headers

PORTS = {"intake": 18311, "followup": 18313}
INTAKE_TOPIC = event_topic("intake")
SEED = int(os.environ.get("HOMEWARD_KILL_SEED", "20261124"))


@dataclass
class Figures:
    kills: Counter[str] = field(default_factory=Counter)
    restarts: int = 0
    retried: int = 0
    registered_earlier: int = 0  # registrations answered 200: an earlier attempt made it
    found_recorded: int = 0  # steps answered 409 whose earlier attempt was applied


class Service:
    """One `homeward serve` process that the test kills and starts again."""

    def __init__(self, name: str, env: dict[str, str], log: IO[bytes], figures: Figures) -> None:
        self.name, self.env, self.log, self.figures = name, env, log, figures
        self.url = f"http://127.0.0.1:{PORTS[name]}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = serve(self.name, PORTS[self.name], self.env, self.log)

    def kill(self) -> None:
        assert self.process is not None
        assert self.process.poll() is None, f"the {self.name} service died unasked"
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.figures.kills[self.name] += 1

    def restart(self) -> None:
        self.start()
        self.figures.restarts += 1

    def kill_and_restart(self) -> None:
        self.kill()
        self.restart()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                raise


# After registration: each step's route, the fact it records, its body (without the case's
# version), and whether a supervisor sends it.
RETURN_HOME = [
    ("consents", "ConsentGiven", samples.FAMILY_TRACING_CONSENT, False),
    ("tracing", "TracingStarted", samples.TRACING_STARTED, False),
    ("tracing/family-located", "FamilyLocated", samples.MOTHER_LOCATED, False),
    ("tracing/family-assessment", "FamilyAssessed", samples.MOTHER_ASSESSED, False),
    *(
        (
            "tracing/relationship-verification",
            "RelationshipVerified",
            {"verified_with": side, "verified_on": "2026-10-11"},
            False,
        )
        for side in ("child", "family")
    ),
    ("tracing/return-check", "ReturnChecked", samples.RETURN_CHECKED, False),
    ("tracing/return-approval", "ReturnApproved", samples.RETURN_APPROVED, True),
    ("reunification", "Reunified", {"reunified_on": "2026-10-12"}, False),
]

# Where a kill lands: the intake service while it handles the request; right after it
# committed and answered, the answer then lost; a moment after it answered, while its relay
# publishes the request's events (the answer kept); the follow-up service before the request.
MID_REQUEST, ANSWER_LOST, RELAY, FOLLOWUP = "mid-request", "answer lost", "relay", "followup"
KINDS = (MID_REQUEST, ANSWER_LOST, RELAY, FOLLOWUP)


@dataclass(frozen=True)
class KillPoint:
    kind: str
    delay: float  # seconds after the request was sent (mid-request) or answered (relay)


def kill_plan(rng: random.Random, requests: int, points: int) -> dict[int, KillPoint]:
    """Which numbered requests get a kill, and which."""
    return {
        number: KillPoint(KINDS[index % len(KINDS)], rng.uniform(0.0, 0.05))
        for index, number in enumerate(rng.sample(range(requests), points))
    }


class Later:
    """``action`` in a thread of its own after ``delay`` seconds; ``join`` raises what it
    raised, which a bare timer thread would only print."""

    def __init__(self, delay: float, action: Callable[[], None]) -> None:
        self.failure: BaseException | None = None
        self.timer = threading.Timer(delay, self.run, [action])
        self.timer.start()

    def run(self, action: Callable[[], None]) -> None:
        try:
            action()
        except BaseException as failure:
            self.failure = failure

    def join(self) -> None:
        self.timer.join()
        if self.failure is not None:
            raise self.failure


class Caseworker:
    """The journey's client: it sends each request until it gets an answer, and kills a
    process where ``kills`` says, starting it again at once (as an operator's supervisor
    would)."""

    def __init__(
        self,
        intake: Service,
        followup: Service,
        signer: Settings,
        agency: str,
        kills: dict[int, KillPoint],
    ) -> None:
        self.intake, self.followup = intake, followup
        self.staff = staff_headers(signer, agency=agency)
        self.supervisor = supervisor_headers(signer, agency)
        self.agency = agency
        self.signer = signer
        self.kills = kills
        self.figures = intake.figures
        self.sent = 0
        self.retry_pause = 0.0  # a killed service is started again before the next attempt

    def get(self, path: str) -> Any:
        answer = httpx.get(f"{self.intake.url}{path}", headers=self.staff, timeout=30)
        assert answer.status_code == 200, f"GET {path}: {answer.status_code} {answer.text}"
        return answer.json()

    def post(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
        point = self.kills.pop(self.sent, None)
        self.sent += 1
        if point is not None and point.kind == FOLLOWUP:
            self.followup.kill_and_restart()
        deadline = time.monotonic() + 180
        while True:
            answer = self.send(path, body, headers, point)
            point = None  # a kill point is once: the retries go undisturbed
            if answer is not None:
                return answer
            self.figures.retried += 1
            assert time.monotonic() < deadline, f"POST {path}: no answer for 180 s"
            time.sleep(self.retry_pause)

    def send(
        self, path: str, body: dict[str, Any], headers: dict[str, str], point: KillPoint | None
    ) -> httpx.Response | None:
        """One attempt, disturbed as ``point`` says; None when no answer came back."""
        killer = None
        if point is not None and point.kind == MID_REQUEST:
            killer = Later(point.delay, self.intake.kill)
        answer: httpx.Response | None
        try:
            answer = httpx.post(f"{self.intake.url}{path}", json=body, headers=headers, timeout=30)
        except httpx.TransportError:
            answer = None
        if killer is not None:
            killer.join()  # the kill lands, during the request or just after its answer
        elif point is not None and point.kind == ANSWER_LOST:
            self.intake.kill()
            answer = None
        elif point is not None and point.kind == RELAY:
            time.sleep(point.delay)
            self.intake.kill()
        if point is not None and point.kind != FOLLOWUP:
            self.intake.restart()
        return answer

    def register(self, key: str) -> dict[str, Any]:
        body = samples.registration(registering_agency=self.agency)
        answer = self.post("/cases", body, {**self.staff, "Idempotency-Key": key})
        assert answer.status_code in (200, 201), answer.text
        self.figures.registered_earlier += answer.status_code == 200
        return answer.json()

    def step(
        self,
        case: dict[str, Any],
        route: str,
        fact: str,
        body: dict[str, Any],
        by_supervisor: bool,
    ) -> dict[str, Any]:
        based_on = case["version"]
        answer = self.post(
            f"/cases/{case['case_id']}/{route}",
            {"version": based_on, **body},
            self.supervisor if by_supervisor else self.staff,
        )
        if answer.status_code in (200, 201):
            return answer.json()
        # Stale: an earlier attempt was applied and its answer lost. Its fact must be there.
        assert answer.status_code == 409, answer.text
        assert "current_version" in answer.json(), answer.text
        timeline = self.get(f"/cases/{case['case_id']}/timeline")
        [recorded] = [entry for entry in timeline if entry["version"] == based_on + 1]
        assert recorded["type"].split(".")[3] == fact, (route, recorded["type"])
        self.figures.found_recorded += 1
        return self.get(f"/cases/{case['case_id']}")

    def journey(self, key: str) -> str:
        """From registration to reunification; returns the case id."""
        case = self.register(key)
        for route, fact, body, by_supervisor in RETURN_HOME:
            case = self.step(case, route, fact, body, by_supervisor)
        return str(case["case_id"])

    def final_state(self, case_id: str) -> dict[str, Any]:
        """What must not depend on the kills: ids, numbers and times left out."""
        case = self.get(f"/cases/{case_id}")
        timeline = self.get(f"/cases/{case_id}/timeline")
        plan = self.wait_for_plan(case_id)
        tracing = case["journey"]["tracing"]
        return {
            "stage": case["stage"],
            "version": case["version"],
            "facts": [entry["type"] for entry in reversed(timeline)],
            "consents": [
                {key: value for key, value in consent.items() if key != "consent_id"}
                for consent in case["consents"]
            ],
            "tracing": {
                key: sorted(value) if key == "verified_with" else value  # a set: any order
                for key, value in tracing.items()
                if key != "consent_id" and not key.endswith("_at")
            },
            "plan": {
                "return": (plan["return_kind"], plan["returned_on"], plan["caseworker"]),
                "visits": [(v["number"], v["due_on"], v["status"]) for v in plan["visits"]],
            },
        }

    def wait_for_plan(self, case_id: str, timeout: float = 120) -> dict[str, Any]:
        # A killed consumer's partitions wait for its session to expire before they move on.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                answer = httpx.get(
                    f"{self.followup.url}/plans/{case_id}", headers=self.staff, timeout=10
                )
            except httpx.TransportError:
                answer = None
            if answer is not None and answer.status_code == 200:
                return dict(answer.json())
            time.sleep(0.5)
        raise AssertionError(f"no follow-up plan for case {case_id}")


@dataclass
class Run:
    cases: list[str]
    case_numbers: list[str]
    states: list[dict[str, Any]]
    stored: dict[str, set[str]]  # case id: the CloudEvent ids of its stored events
    figures: Figures


def stored_case_events(store: Path) -> dict[str, set[str]]:
    """Every case in the intake service's event store, with the CloudEvent id of each of its
    events, read from the database itself once the service stopped."""
    case_topic = f"{get_topic(ChildCase)}."
    stored: dict[str, set[str]] = {}
    with closing(sqlite3.connect(store)) as database:
        rows = database.execute(
            "SELECT originator_id, originator_version, topic FROM stored_events"
        )
        for case_id, version, topic in rows:
            if topic.startswith(case_topic):
                case = UUID(case_id)  # stored as hex digits only
                stored.setdefault(str(case), set()).add(str(event_id(case, version)))
    return stored


REQUESTS_PER_JOURNEY = 1 + len(RETURN_HOME)


def run_script(settings: Settings, folder: Path, journeys: int, kills: dict[int, KillPoint]) -> Run:
    folder.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith("HOMEWARD_")} | {
        **kafka_env(settings),
        "HOMEWARD_DATA_DIR": str(folder),
        "HOMEWARD_MASTER_KEY": generate_master_key(),
        "HOMEWARD_RELAY_POLL_SECONDS": "0.05",  # publishing soon after each commit
    }
    figures = Figures()
    log = (folder / "services.log").open("ab")
    intake = Service("intake", env, log, figures)
    followup = Service("followup", env, log, figures)
    signer = local_settings(folder)
    agency = f"CD-{uuid.uuid4().hex[:4].upper()}"
    client = Caseworker(intake, followup, signer, agency, kills)
    try:
        intake.start()
        followup.start()
        cases = [client.journey(f"journey-{number}") for number in range(journeys)]
        assert client.sent == journeys * REQUESTS_PER_JOURNEY
        numbers = [client.get(f"/cases/{case_id}")["case_number"] for case_id in cases]
        states = [client.final_state(case_id) for case_id in cases]
        deadline = time.monotonic() + 60
        while relay_of(PORTS["intake"], admin_headers(signer))["waiting"]:
            assert time.monotonic() < deadline, "the relay did not publish everything"
            time.sleep(0.2)
    finally:
        for service in (intake, followup):
            service.stop()
    return Run(cases, numbers, states, stored_case_events(folder / "intake.sqlite3"), figures)


def published_ids(client: dict[str, Any], cases: set[str]) -> list[str]:
    """The ids of the messages about ``cases`` on the intake topic, as often as each is there,
    read to the end of every partition."""
    consumer = KafkaConsumer(**client, enable_auto_commit=False)
    try:
        partitions = [
            TopicPartition(INTAKE_TOPIC, partition)
            for partition in consumer.partitions_for_topic(INTAKE_TOPIC) or ()
        ]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        ids: list[str] = []
        while any(consumer.position(p) < end for p, end in ends.items()):
            for records in consumer.poll(timeout_ms=500).values():
                ids.extend(ids_about(records, cases))
    finally:
        consumer.close(autocommit=False)
    return ids


def as_undisturbed(undisturbed: Run, disturbed: Run, ids: list[str]) -> str:
    """Check the disturbed run ended as the undisturbed one, and that the intake topic
    (``ids``, as often as each is there) holds exactly its stored events; the figures held."""
    for journey, (state, expected) in enumerate(
        zip(disturbed.states, undisturbed.states, strict=True)
    ):
        for key in expected:
            assert state[key] == expected[key], f"journey {journey}: {key}"
    # One case per journey: no retry registered a child twice.
    assert set(disturbed.stored) == set(disturbed.cases)
    for case_id, state in zip(disturbed.cases, disturbed.states, strict=True):
        assert len(disturbed.stored[case_id]) == state["version"]
    assert len(set(disturbed.case_numbers)) == len(disturbed.cases)
    stored = set().union(*disturbed.stored.values())
    figures = disturbed.figures
    held = (
        f"processes killed {sum(figures.kills.values())} "
        f"({', '.join(f'{count} {name}' for name, count in sorted(figures.kills.items()))}), "
        f"started again by the test {figures.restarts}, requests retried {figures.retried} "
        f"(registrations answered as made earlier {figures.registered_earlier}, steps found "
        f"recorded {figures.found_recorded}); case numbers "
        f"{', '.join(number[-5:] for number in disturbed.case_numbers)}; events stored "
        f"{len(stored)}, on the topic {len(set(ids))} distinct, published twice "
        f"{len(ids) - len(set(ids))}, lost {len(stored - set(ids))}, not stored "
        f"{len(set(ids) - stored)}"
    )
    assert set(ids) == stored, held
    return held


def seeded_kills_hold(settings: Settings, tmp_path: Path, journeys: int, points: int) -> None:
    undisturbed = run_script(settings, tmp_path / "undisturbed", journeys, {})
    kills = kill_plan(random.Random(SEED), journeys * REQUESTS_PER_JOURNEY, points)
    kinds = Counter(point.kind for point in kills.values())
    disturbed = run_script(settings, tmp_path / "disturbed", journeys, kills)
    ids = published_ids(as_admin(settings), set(disturbed.stored))
    held = as_undisturbed(undisturbed, disturbed, ids)
    print(
        f"\nseeded kills (seed {SEED}): {journeys} journeys of {REQUESTS_PER_JOURNEY} requests, "
        f"kill points {points} ({', '.join(f'{kinds[kind]} {kind}' for kind in KINDS)}): {held}"
    )
    assert sum(disturbed.figures.kills.values()) == disturbed.figures.restarts == points


def test_kills_at_seeded_points_leave_the_journeys_as_an_undisturbed_run(settings, tmp_path):
    seeded_kills_hold(settings, tmp_path, journeys=4, points=28)


@pytest.mark.long
def test_kills_at_many_more_seeded_points(settings, tmp_path):
    seeded_kills_hold(settings, tmp_path, journeys=12, points=90)


# Under `homeward up`, with a broker of its own: the broker or `up` itself SIGKILLed while a
# request is under way. `up` starts the broker again; `up` is started again at once, as an
# init system would, and must find its way past what its killed self left (services and a
# broker stopping on their parent-death signal, pid files, the data directory's lock).
UP_PORTS = {"intake": 18321, "referral": 18322, "followup": 18323, "web": 18324}
UP_BROKER_PORT = 19692
BROKER, UP = "broker", "up"


class Supervisor:
    """One `homeward up` on its own data directory, killed and started again by the test."""

    def __init__(self, folder: Path, figures: Figures) -> None:
        self.folder, self.figures = folder, figures
        self.up_log = folder / "up.log"
        self.log = self.up_log.open("ab")
        self.env = up_env(folder, UP_PORTS, UP_BROKER_PORT) | {
            "HOMEWARD_RELAY_POLL_SECONDS": "0.05"
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{UP_PORTS['intake']}"
        self.broker = local_broker(Settings(data_dir=folder, local_broker_port=UP_BROKER_PORT))

    def start(self) -> None:
        self.started_at = self.up_log.stat().st_size  # where this `up`'s output begins
        self.process = subprocess.Popen(
            [sys.executable, "-m", "shared.cli", "up"],
            env=self.env,
            stdout=self.log,
            stderr=self.log,
        )

    def wait_healthy(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while not all(map(healthy, UP_PORTS.values())):
            assert self.process is not None
            assert self.process.poll() is None, "`up` exited"
            assert time.monotonic() < deadline, "the platform did not come up"
            time.sleep(0.3)

    def kill_up(self) -> None:
        assert self.process is not None
        assert self.process.poll() is None, "`up` died unasked"
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.figures.kills[UP] += 1
        self.start()
        self.figures.restarts += 1

    def kill_broker(self) -> None:
        """Kill the broker of a running platform: once `up` runs its services (a broker that
        dies while `up` starts is a failed start, which `up` reports and exits), and once
        the broker accepts connections again after an earlier kill."""
        deadline = time.monotonic() + 120
        while (
            b"Ctrl-C stops everything." not in self.up_log.read_bytes()[self.started_at :]
            or (pid := self.broker.pid()) is None
            or not port_is_open(UP_BROKER_PORT)
        ):
            assert time.monotonic() < deadline, "`up` did not run its broker again"
            time.sleep(0.2)
        os.kill(pid, signal.SIGKILL)
        self.figures.kills[BROKER] += 1

    def kafka_admin(self) -> dict[str, Any]:
        settings = Settings(data_dir=self.folder, local_broker_port=UP_BROKER_PORT)
        return as_admin(with_local_broker(settings, self.broker))

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            assert self.process.wait(timeout=90) == 0


class CaseworkerUnderUp(Caseworker):
    """The journey's client under `homeward up`: a kill lands while its request is under way,
    and what got no answer is sent again once the platform answers."""

    def __init__(
        self, platform: Supervisor, signer: Settings, agency: str, kills: dict[int, KillPoint]
    ) -> None:
        followup = SimpleNamespace(url=f"http://127.0.0.1:{UP_PORTS['followup']}")
        super().__init__(platform, followup, signer, agency, kills)  # type: ignore[arg-type]
        self.platform = platform
        self.retry_pause = 0.5  # `up` restarts what died, in its own time

    def send(
        self, path: str, body: dict[str, Any], headers: dict[str, str], point: KillPoint | None
    ) -> httpx.Response | None:
        killer = None
        if point is not None:
            kill = self.platform.kill_broker if point.kind == BROKER else self.platform.kill_up
            killer = Later(point.delay, kill)
        try:
            answer = httpx.post(f"{self.intake.url}{path}", json=body, headers=headers, timeout=30)
        except httpx.TransportError:
            answer = None
        if killer is not None:
            killer.join()
        return answer


def run_under_up(folder: Path, journeys: int, kills: dict[int, KillPoint]) -> tuple[Run, list[str]]:
    """The script under `homeward up`; also the ids on its intake topic, read before it stops."""
    folder.mkdir()
    figures = Figures()
    platform = Supervisor(folder, figures)
    try:
        platform.start()
        platform.wait_healthy()
        client = CaseworkerUnderUp(
            platform, local_settings(folder), f"CD-{uuid.uuid4().hex[:4].upper()}", kills
        )
        cases = [client.journey(f"journey-{number}") for number in range(journeys)]
        platform.wait_healthy()  # the last kill may have been at the last request
        numbers = [client.get(f"/cases/{case_id}")["case_number"] for case_id in cases]
        states = [client.final_state(case_id) for case_id in cases]
        deadline = time.monotonic() + 120
        while relay_of(UP_PORTS["intake"], admin_headers(client.signer))["waiting"]:
            assert time.monotonic() < deadline, "the relay did not publish everything"
            time.sleep(0.2)
        ids = published_ids(platform.kafka_admin(), set(cases))
    finally:
        platform.stop()
    stored = stored_case_events(folder / "intake.sqlite3")
    return Run(cases, numbers, states, stored, figures), ids


def test_kills_of_the_broker_and_of_up_itself_leave_the_journeys_as_an_undisturbed_run(tmp_path):
    journeys, points = 3, 8
    undisturbed, _ = run_under_up(tmp_path / "undisturbed", journeys, {})
    rng = random.Random(SEED)
    kills = {
        number: KillPoint((BROKER, UP)[index % 2], rng.uniform(0.0, 0.05))
        for index, number in enumerate(rng.sample(range(journeys * REQUESTS_PER_JOURNEY), points))
    }
    disturbed, ids = run_under_up(tmp_path / "disturbed", journeys, kills)
    held = as_undisturbed(undisturbed, disturbed, ids)
    print(
        f"\nseeded kills under `homeward up` (seed {SEED}): {journeys} journeys of "
        f"{REQUESTS_PER_JOURNEY} requests, kill points {points} (broker and `up` in turn): {held}"
    )
    assert disturbed.figures.kills == {BROKER: points // 2, UP: points // 2}
