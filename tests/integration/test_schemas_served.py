"""Every published schema is served, by the service that publishes it, and listed at
/schemas: a message's ``dataschema`` is ``<the publishing service's URL>/schemas/<type>``, and
a GET of it answers the checked-in schema. The referral service also serves the partners'
answer types and whatever its AsyncAPI document refers to.

No broker: the services are built on throwaway stores and never started; their HTTP API is
all that is asked."""

import json
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

import pytest
import uvicorn
from fastapi.testclient import TestClient

from services.followup.service import build_runtime as build_followup
from services.followup.service import create_app as followup_api
from services.intake.service import build_runtime as build_intake
from services.intake.service import create_app as intake_api
from services.referral.asyncapi import referenced_schemas
from services.referral.messages import PARTNER_ANSWERS
from services.referral.service import build_runtime as build_referral
from services.referral.service import create_app as referral_api
from shared.catalogues import published_catalogues
from shared.chain import ChainLink
from shared.checkpoints import checkpoint_message
from shared.envelope import CloudEvent
from shared.keyring import generate_master_key
from shared.publishing import SCHEMA_FOLDER, SHARED_DEFINITIONS, published_schema
from shared.runtime import ServiceRuntime
from shared.settings import REPO_ROOT, Settings
from tests.conftest import sqlite_store

README_BLOCK = "<!-- tests/integration/test_schemas_served.py runs this block -->"
BUILDERS = {
    "intake": (build_intake, intake_api),
    "referral": (build_referral, referral_api),
    "followup": (build_followup, followup_api),
}
# What an operator would set: where partners and consumers reach each service.
URLS = {
    "intake_url": "https://intake.homeward.example.org",
    "referral_url": "https://homeward.example.org/referral",
}


@pytest.fixture(scope="module")
def services(tmp_path_factory) -> Iterator[dict[str, tuple[ServiceRuntime, TestClient]]]:
    folder = tmp_path_factory.mktemp("schemas")
    settings = Settings(
        kafka_bootstrap="127.0.0.1:1", data_dir=folder, master_key=generate_master_key(), **URLS
    )
    built = {}
    for service, (build, api) in BUILDERS.items():
        (folder / service).mkdir()
        runtime = build(settings, sqlite_store(folder / service))
        built[service] = (runtime, TestClient(api(runtime)))  # no lifespan: nothing runs
    yield built
    for runtime, _client in built.values():
        runtime.application.close()


def messages_of(runtime: ServiceRuntime) -> Iterator[CloudEvent]:
    """A message of each type each relay of the service publishes, made as the relay makes
    it (the data aside, which plays no part in where its schema is)."""
    case_id = uuid.uuid4()
    for relay in runtime.relays:
        for entry in relay.catalogue.published:
            yield CloudEvent.published(
                service=relay.catalogue.service,
                name=entry.name,
                version=entry.version,
                case_id=case_id,
                originator_id=case_id,
                originator_version=1,
                occurred_at=datetime.now(UTC),
                data={},
                schemas_at=relay.schemas_at,
            )
        if relay.checkpointer is not None:
            head = ChainLink(1, str(case_id), 1, bytes(32), bytes(32))
            yield checkpoint_message(
                runtime.service, "chain", head, datetime.now(UTC), relay.checkpointer.schemas_at
            )


def test_every_dataschema_resolves_on_the_service_that_published_it(services):
    resolved = set()
    for service, (runtime, client) in services.items():
        listed = client.get("/schemas").json()
        for message in messages_of(runtime):
            assert message.dataschema is not None
            url = urlsplit(message.dataschema)
            expected = urlsplit(runtime.settings.service_url(service))
            assert (url.scheme, url.netloc) == (expected.scheme, expected.netloc), message.type
            # Behind a path prefix (a gateway), the service itself sees the path after it.
            path = url.path.removeprefix(expected.path)
            answer = client.get(path)
            assert answer.status_code == 200, (service, message.type)
            assert answer.json() == published_schema(message.type)
            assert message.type in listed
            resolved.add(message.type)
    published_now = {
        name
        for catalogue in published_catalogues()
        for name in catalogue.types
        if name not in catalogue.earlier_types
    }
    assert resolved == published_now


def test_earlier_versions_are_served_beside_the_current(services):
    for catalogue in published_catalogues():
        for earlier in catalogue.earlier_types:
            owners = [
                client for runtime, client in services.values() if earlier in runtime.schema_names
            ]
            assert owners, earlier
            for client in owners:
                assert client.get(f"/schemas/{earlier}").status_code == 200


def test_the_referral_service_serves_what_partners_receive_and_send(services):
    _runtime, client = services["referral"]
    listed = set(client.get("/schemas").json())
    received = client.get("/schemas/org.homeward.partner.ReferralReceived.v1")
    assert received.status_code == 200
    assert received.json()["$id"] == "urn:homeward:schema:partner.ReferralReceived.v1"
    assert set(PARTNER_ANSWERS) <= listed
    for name in SHARED_DEFINITIONS:  # urn:homeward:schema:<name>, what the types $ref
        assert name in listed
        assert client.get(f"/schemas/{name}").json()["$id"] == f"urn:homeward:schema:{name}"


def test_every_schema_the_asyncapi_document_refers_to_resolves_beside_it(services):
    _runtime, client = services["referral"]
    served = client.get("/asyncapi.json")
    assert served.status_code == 200
    document = served.json()
    base = "http://testserver/asyncapi.json"
    for name in referenced_schemas(document):
        answer = client.get(urljoin(base, f"schemas/{name}"))
        assert answer.status_code == 200, name
        assert answer.json() == published_schema(name)


def test_every_checked_in_schema_is_served_somewhere(services):
    served = {name for runtime, _client in services.values() for name in runtime.schema_names}
    files = {path.name for path in SCHEMA_FOLDER.glob("*.json")}
    named = {name.removeprefix("org.homeward.") + ".json" for name in served if "." in name} | {
        SHARED_DEFINITIONS[name] for name in served if name in SHARED_DEFINITIONS
    }
    assert files == named


def test_a_name_not_published_is_answered_404(services):
    for _runtime, client in services.values():
        assert client.get("/schemas/org.homeward.intake.NoSuchEvent.v1").status_code == 404
        assert client.get("/schemas/..%2Fsettings.py").status_code == 404
    _runtime, intake = services["intake"]
    # Intake publishes no partner type: the owner of one serves it.
    assert intake.get("/schemas/org.homeward.partner.ReferralReceived.v1").status_code == 404


@pytest.fixture
def referral_port(services) -> Iterator[int]:
    """The referral service's API on a port of its own, as curl reaches it."""
    runtime, _client = services["referral"]
    config = uvicorn.Config(
        referral_api(runtime), host="127.0.0.1", port=0, lifespan="off", log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the referral API did not start"
        time.sleep(0.05)
    yield server.servers[0].sockets[0].getsockname()[1]
    server.should_exit = True
    thread.join(timeout=10)


def test_the_partners_guide_lines_answer_as_it_says(referral_port):
    block = (REPO_ROOT / "README.md").read_text().split(README_BLOCK, 1)[1]
    lines = block.split("```sh\n", 1)[1].split("```", 1)[0].splitlines()
    answers = []
    for line in lines:
        # Only the port differs from what a partner pastes.
        command = line.replace("localhost:8002", f"127.0.0.1:{referral_port}")
        run = subprocess.run(
            ["bash", "-c", command], capture_output=True, text=True, timeout=30, check=True
        )
        answers.append(json.loads(run.stdout))
    document, listed, received = answers
    assert document["asyncapi"] == "3.0.0"
    assert "org.homeward.partner.ReferralReceived.v1" in listed
    assert received["$id"] == "urn:homeward:schema:partner.ReferralReceived.v1"
