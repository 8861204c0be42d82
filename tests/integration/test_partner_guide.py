"""The partner's guide, run as it is written in the README: its kafka-python, confluent-kafka
and console-tool examples and its catch-up curl line, each against the real broker with a
partner registered through the referral service, its key pair from `homeward partner keygen`.
Only what a partner would change is changed: the broker's port, the agency code (each test
registers its own), the password `kafka_login` gave, the referral service's port.

Every referral is made, and on the partner's topic, before the partner's first connection:
the examples must start from the earliest offset to see it."""

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient

from services.intake.service import build_runtime as build_intake
from services.intake.service import create_app as intake_api
from services.referral.service import build_runtime as build_referral
from services.referral.service import create_app as referral_api
from shared.access import Role
from shared.keyring import open_keyring
from shared.localkafka import JAR_CACHE, fetch_jars
from shared.settings import Settings
from tests.conftest import as_admin, sqlite_store
from tests.partner import (
    PartnerLogin,
    guide_code,
    opened_data,
    partner_keys,
    read_messages,
    readme_blocks,
    register_partner,
)
from tests.samples import registration
from tests.signin import local_token, staff_headers

# How the README marks the blocks this test runs.
MARKED = "<!-- tests/integration/test_partner_guide.py {} -->"
RUN_AS_WRITTEN = MARKED.format("runs this block as it is written here")
WITH_EACH_CLIENT = MARKED.format("runs this block with each client below")
PROPERTIES = MARKED.format("writes this block to homeward-partner.properties")
GUIDE_AGENCY, GUIDE_BROKER, GUIDE_REFERRAL_SERVICE = "SCH-GOMA", "127.0.0.1:9092", "localhost:8002"
# What Kafka's bin/kafka-console-*.sh scripts run, from the jars the local broker runs on, and
# the tools' logging as the bin/ scripts set it (config/tools-log4j2.yaml: warnings, on stderr).
CONSOLE_TOOLS = {
    "kafka-console-consumer.sh": "org.apache.kafka.tools.consumer.ConsoleConsumer",
    "kafka-console-producer.sh": "org.apache.kafka.tools.ConsoleProducer",
}
TOOLS_LOGGING = """rootLogger.level=WARN
rootLogger.appenderRef.stderr.ref=STDERR
appender.stderr.type=Console
appender.stderr.name=STDERR
appender.stderr.target=SYSTEM_ERR
appender.stderr.layout.type=PatternLayout
appender.stderr.layout.pattern=[%d] %p %m (%c)%n
"""


@dataclass
class Platform:
    settings: Settings
    intake: TestClient
    referrals: TestClient


@pytest.fixture
def platform(settings: Settings, tmp_path: Path) -> Iterator[Platform]:
    keyring = open_keyring(settings)
    for name in ("intake", "referral"):
        (tmp_path / name).mkdir()
    intake_runtime = build_intake(settings, sqlite_store(tmp_path / "intake"), keyring=keyring)
    referral_runtime = build_referral(
        settings, sqlite_store(tmp_path / "referral"), keyring=keyring
    )
    with (
        TestClient(
            intake_api(intake_runtime), headers=staff_headers(intake_runtime.settings)
        ) as intake,
        TestClient(
            referral_api(referral_runtime), headers=staff_headers(referral_runtime.settings)
        ) as referrals,
    ):
        yield Platform(referral_runtime.settings, intake, referrals)


def guide_block(marker: str, containing: str) -> str:
    (block,) = (code for code in readme_blocks(marker) if containing in code)
    return block


def as_partner(code: str, login: PartnerLogin) -> str:
    """The guide's lines with this partner's agency and this test's broker."""
    return code.replace(GUIDE_AGENCY, login.username).replace(GUIDE_BROKER, login.bootstrap)


def partner(platform: Platform, folder: Path) -> PartnerLogin:
    """A partner registered by an administrator, its key pair made in ``folder``."""
    agency = f"SCH-{uuid.uuid4().hex[:6].upper()}"
    return register_partner(
        platform.referrals, platform.settings.kafka_bootstrap, agency, "education", folder
    )


def referred_and_published(platform: Platform, login: PartnerLogin) -> str:
    """A new case referred to the partner; returned once its message is on the partner's
    topic."""
    case = platform.intake.post("/cases", json=registration()).json()
    consent = platform.intake.post(
        f"/cases/{case['case_id']}/consents",
        json={
            "version": case["version"],
            "given_by": "child_consent",
            "purpose": "education",
            "recipients": [login.username],
            "categories": ["identity"],
            "given_on": "2026-11-20",
        },
    )
    assert consent.status_code == 201, consent.text
    request = {
        "case_id": case["case_id"],
        "agency": login.username,
        "service": "education",
        "purpose": "education",
        "categories": ["identity"],
    }
    deadline = time.monotonic() + 30
    while (made := platform.referrals.post("/referrals", json=request)).status_code != 201:
        assert time.monotonic() < deadline, made.text
        time.sleep(0.2)
    assert read_messages(
        as_admin(platform.settings),
        f"homeward.partner.{login.username}.referrals",
        key=case["case_id"],
    )
    referral_id: str = made.json()["referral_id"]
    return referral_id


def state_of(platform: Platform, referral_id: str, expected: str) -> str:
    """The referral's state once it is ``expected``, or after 30 seconds."""
    deadline = time.monotonic() + 30
    while (state := platform.referrals.get(f"/referrals/{referral_id}").json()["state"]) != (
        expected
    ) and time.monotonic() < deadline:
        time.sleep(0.2)
    return str(state)


def run_python_example(
    folder: Path, login: PartnerLogin, client: str
) -> subprocess.CompletedProcess[str]:
    """The guide's lines as one program, run in the folder of the partner's key with its
    password in the environment, as the guide says."""
    program = folder / "partner.py"
    program.write_text(
        "\n".join(
            as_partner(code, login)
            for code in (
                guide_code(),
                guide_block(WITH_EACH_CLIENT, "def answer_to"),
                guide_block(RUN_AS_WRITTEN, client),
            )
        )
    )
    return subprocess.run(
        [sys.executable, str(program)],
        cwd=folder,
        env={**os.environ, "HOMEWARD_KAFKA_PASSWORD": login.password},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def ran(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.parametrize("client", ["from kafka import", "from confluent_kafka import"])
def test_a_python_example_answers_the_referrals_made_before_it_first_connected(
    platform: Platform, tmp_path: Path, client: str
):
    login = partner(platform, tmp_path)
    before = [referred_and_published(platform, login) for _ in range(2)]

    ran(run_python_example(tmp_path, login, client))
    assert [state_of(platform, referral_id, "accepted") for referral_id in before] == [
        "accepted",
        "accepted",
    ]

    # The next run goes on from where the group committed: the new referral only.
    after = referred_and_published(platform, login)
    ran(run_python_example(tmp_path, login, client))
    assert state_of(platform, after, "accepted") == "accepted"
    refused = read_messages(
        as_admin(platform.settings), f"homeward.partner.{login.username}.replies.dlq", timeout=5
    )
    assert refused == [], "an answer was refused: one referral was answered twice"


@pytest.mark.parametrize(
    ("client", "says"),
    [
        ("from kafka import", "No Kafka broker answers at"),
        ("from confluent_kafka import", "Connection refused"),
    ],
)
def test_a_python_example_stops_with_a_message_when_no_broker_answers(
    tmp_path: Path, client: str, says: str
):
    partner_keys(tmp_path)
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        nowhere = f"127.0.0.1:{probe.getsockname()[1]}"
    login = PartnerLogin(nowhere, "SCH-NONE", "password", "SCRAM-SHA-512")
    started = time.monotonic()
    done = run_python_example(tmp_path, login, client)
    assert done.returncode != 0
    assert says in done.stderr
    assert time.monotonic() - started < 30


def console_tools(folder: Path) -> dict[str, str]:
    """An environment whose PATH has Kafka's console scripts, each as its bin/ script runs
    it: java with Kafka's jars and the tool's class."""
    fetch_jars()
    bin_folder = folder / "kafka-bin"
    bin_folder.mkdir()
    logging = bin_folder / "tools-log4j2.properties"
    logging.write_text(TOOLS_LOGGING)
    for script, tool in CONSOLE_TOOLS.items():
        path = bin_folder / script
        path.write_text(
            f'#!/bin/sh\nexec java -Dlog4j2.configurationFile="{logging}" '
            f'-cp "{JAR_CACHE}/*" {tool} "$@"\n'
        )
        path.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_folder}:{os.environ['PATH']}"}


def run_sh_example(folder: Path, code: str, env: dict[str, str]) -> None:
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", code],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def test_the_console_tools_read_the_referrals_made_before_and_answer(
    platform: Platform, tmp_path: Path
):
    login = partner(platform, tmp_path)
    before = referred_and_published(platform, login)
    properties = as_partner(guide_block(PROPERTIES, "sasl.jaas.config"), login)
    (tmp_path / "homeward-partner.properties").write_text(
        properties.replace("<kafka_login.password>", login.password)
    )
    env = console_tools(tmp_path)

    run_sh_example(
        tmp_path, as_partner(guide_block(RUN_AS_WRITTEN, "console-consumer"), login), env
    )
    received = [
        json.loads(line) for line in (tmp_path / "referrals.jsonl").read_text().splitlines()
    ]
    assert [event["data"]["referral_id"] for event in received] == [before]
    assert opened_data(tmp_path, received[0])["shared_data"]["name"] == registration()["name"]

    answer = as_partner(guide_block(RUN_AS_WRITTEN, "console-producer"), login)
    run_sh_example(tmp_path, answer, env | {"REFERRAL_ID": before})
    assert state_of(platform, before, "accepted") == "accepted"


@pytest.fixture
def served_referrals(platform: Platform) -> Iterator[str]:
    """The referral service's routes on a real port, for curl: ``localhost:<port>``."""
    server = uvicorn.Server(
        uvicorn.Config(
            platform.referrals.app, host="127.0.0.1", port=0, lifespan="off", log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the referral service did not start serving"
        time.sleep(0.1)
    (port,) = {listening.getsockname()[1] for s in server.servers for listening in s.sockets}
    yield f"localhost:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_a_partner_that_lost_its_offsets_catches_up_over_http(
    platform: Platform, served_referrals: str, tmp_path: Path
):
    login = partner(platform, tmp_path)
    referral_id = referred_and_published(platform, login)
    (on_kafka,) = read_messages(
        as_admin(platform.settings), f"homeward.partner.{login.username}.referrals"
    )
    curl = as_partner(guide_block(RUN_AS_WRITTEN, "referrals?limit"), login)
    token = local_token(platform.settings, Role.PARTNER, agency=login.username, sub="sch-app")
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", curl.replace(GUIDE_REFERRAL_SERVICE, served_referrals)],
        env={**os.environ, "PARTNER_TOKEN": token},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    page: dict[str, Any] = json.loads(done.stdout)
    assert page["total"] == 1
    (item,) = page["items"]
    (message,) = item["messages"]
    kafka_message = json.loads(on_kafka.value)
    # The message of the topic: the same id and type, every personal field sealed to the
    # partner's key (ciphertext of its own), and the same once opened.
    assert (message["id"], message["type"]) == (kafka_message["id"], kafka_message["type"])
    assert registration()["name"] not in json.dumps(message)
    assert opened_data(tmp_path, message) == opened_data(tmp_path, kafka_message)
    assert opened_data(tmp_path, message)["referral_id"] == referral_id


def test_a_partner_answers_over_http_as_the_guide_writes_it(
    platform: Platform, served_referrals: str, tmp_path: Path
):
    login = partner(platform, tmp_path)
    referral_id = referred_and_published(platform, login)
    answers = as_partner(guide_block(RUN_AS_WRITTEN, "/answers"), login)
    token = local_token(platform.settings, Role.PARTNER, agency=login.username, sub="sch-app")
    done = subprocess.run(
        [
            "bash",
            "-euo",
            "pipefail",
            "-c",
            answers.replace(GUIDE_REFERRAL_SERVICE, served_referrals),
        ],
        env={**os.environ, "PARTNER_TOKEN": token, "REFERRAL_ID": referral_id},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    read, end = json.JSONDecoder().raw_decode(done.stdout)  # curl -s: the answers run together
    answered = json.loads(done.stdout[end:])
    assert (read["referral_id"], read["state"]) == (referral_id, "awaiting_answer")
    # The answer's reply is the referral as it now stands.
    assert (answered["referral_id"], answered["state"]) == (referral_id, "accepted")
    assert state_of(platform, referral_id, "accepted") == "accepted"


def homeward_partner(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`homeward partner ...` run as the partner runs it, in the folder of its key and login."""
    return subprocess.run(
        [sys.executable, "-m", "shared.cli", "partner", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_homeward_partner_commands_read_and_answer(platform: Platform, tmp_path: Path):
    login = partner(platform, tmp_path)
    accepted, declined = (referred_and_published(platform, login) for _ in range(2))
    properties = as_partner(guide_block(PROPERTIES, "sasl.jaas.config"), login)
    (tmp_path / "homeward-partner.properties").write_text(
        properties.replace("<kafka_login.password>", login.password)
    )

    read = homeward_partner(tmp_path, "read")
    assert read.returncode == 0, read.stderr
    received = [json.loads(line) for line in read.stdout.splitlines()]
    assert [event["data"]["referral_id"] for event in received] == [accepted, declined]
    assert {event["type"] for event in received} == {"org.homeward.partner.ReferralReceived.v1"}
    assert received[0]["data"]["shared_data"]["name"] == registration()["name"]

    assert homeward_partner(tmp_path, "answer", accepted, "accepted").returncode == 0
    unsealed = homeward_partner(tmp_path, "answer", declined, "declined")
    assert unsealed.returncode == 2
    assert "declined takes --reason" in unsealed.stderr
    reason = "No place left this term"
    sent = homeward_partner(tmp_path, "answer", declined, "declined", "--reason", reason)
    assert sent.returncode == 0, sent.stderr
    assert state_of(platform, accepted, "accepted") == "accepted"
    assert state_of(platform, declined, "declined") == "declined"
    replies = read_messages(
        as_admin(platform.settings), f"homeward.partner.{login.username}.replies", expect=2
    )
    assert len(replies) == 2
    assert not any(reason.encode() in reply.value for reply in replies)

    unknown = homeward_partner(tmp_path, "answer", str(uuid.uuid4()), "accepted")
    assert unknown.returncode == 2
    assert "no referral" in unknown.stderr
