"""Reading topics the way a partner agency would: a plain kafka-python consumer signed in with
the credentials its registration gave, the README's own lines to open what is sealed to the
partner, no project code but the key tool we give partners (`homeward partner keygen`)."""

import base64
import contextlib
import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer
from nacl.public import PrivateKey

from shared.cli import main as homeward
from tests.signin import admin_headers

README = Path(__file__).parent.parent / "README.md"
GUIDE_MARKER = "<!-- tests/partner.py runs this block as it is written here -->"
KEY_FILE = "homeward-partner.key"


@dataclass(frozen=True)
class PartnerLogin:
    """What a partner's registration answers (``kafka_login``), and the client settings the
    partner's guide shows for it."""

    bootstrap: str
    username: str
    password: str
    sasl_mechanism: str

    @classmethod
    def of(cls, bootstrap: str, registered: dict[str, Any]) -> "PartnerLogin":
        login = registered["kafka_login"]
        assert login is not None, "the registration made no Kafka credentials"
        assert login["group_prefix"] == f"{login['username']}."
        return cls(bootstrap, login["username"], login["password"], login["sasl_mechanism"])

    def group(self, name: str) -> str:
        """A consumer group of the partner's own: its agency code, a dot, any name."""
        return f"{self.username}.{name}"

    def kafka_python(self) -> dict[str, Any]:
        # The local broker's listener is SASL_PLAINTEXT; a production one is SASL_SSL.
        return {
            "bootstrap_servers": self.bootstrap,
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": self.sasl_mechanism,
            "sasl_plain_username": self.username,
            "sasl_plain_password": self.password,
        }

    def librdkafka(self) -> dict[str, Any]:
        return {
            "bootstrap.servers": self.bootstrap,
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanisms": self.sasl_mechanism,
            "sasl.username": self.username,
            "sasl.password": self.password,
        }


def read_messages(
    client: dict[str, Any],
    topic: str,
    *,
    key: str | None = None,
    expect: int = 1,
    timeout: float = 30,
) -> list[Any]:
    """Records of ``topic`` (only those with ``key``, if given), once ``expect`` have arrived
    or the timeout passed; reads from the beginning, signed in with the kafka-python
    arguments ``client``, in a consumer group of its own."""
    consumer = KafkaConsumer(
        topic,
        **client,
        group_id=f"{client.get('sasl_plain_username')}.read-{uuid.uuid4()}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    found: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and len(found) < expect:
            for records in consumer.poll(timeout_ms=300).values():
                found += [r for r in records if key is None or r.key == key.encode()]
        # A little longer, so that an unexpected extra message would be seen too.
        for records in consumer.poll(timeout_ms=500).values():
            found += [r for r in records if key is None or r.key == key.encode()]
    finally:
        consumer.close(autocommit=False)
    return found


def answer_document(agency: str, type_name: str, data: dict[str, Any], **envelope: Any) -> bytes:
    """A partner's answer as it puts it on its replies topic: a CloudEvent about the referral
    it answers (``subject``), stamped with when it was given (``time``). ``envelope`` changes
    attributes; one given as None is left out."""
    document = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": f"/partners/{agency}",
        "type": f"org.homeward.partner.{type_name}.v1",
        "subject": data["referral_id"],
        "time": datetime.now(UTC).isoformat(),
        "datacontenttype": "application/json",
        "data": data,
    } | envelope
    return json.dumps(
        {name: value for name, value in document.items() if value is not None}
    ).encode()


def as_json(record: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(record.value)
    return document


def partner_keys(folder: Path) -> str:
    """A partner's key pair, made as the guide says (`homeward partner keygen --out`): the
    private key stays in ``folder``; the public key, returned, is what the partner registers."""
    assert homeward(["partner", "keygen", "--out", str(folder)]) == 0
    private_key = PrivateKey(base64.b64decode((folder / KEY_FILE).read_text()))
    return base64.b64encode(bytes(private_key.public_key)).decode()


def register_partner(
    referrals: Any,
    bootstrap: str,
    agency: str,
    service: str,
    key_folder: Path,
    name: str = "",
    kind: str = "humanitarian",
    country: str = "CD",
    headers: dict[str, str] | None = None,
) -> PartnerLogin:
    """A partner registers with the referral service (``referrals``, an HTTP client) with the
    public key of the key pair it makes in ``key_folder``, and is given its Kafka login. An
    administrator's ``headers`` are made from the app's settings unless given (a client of a
    running platform has no app)."""
    registered = referrals.post(
        "/partners",
        json={
            "agency": agency,
            "name": name or agency,
            "kind": kind,
            "country": country,
            "services": [service],
            "public_key": partner_keys(key_folder),
        },
        headers=headers or admin_headers(referrals.app.state.runtime.settings),
    )
    assert registered.status_code == 201, registered.text
    return PartnerLogin.of(bootstrap, registered.json())


def readme_blocks(marker: str) -> list[str]:
    """The code of each README block that follows a line ``marker``, in order."""
    return [
        after_marker.split("```", 2)[1].split("\n", 1)[1]
        for after_marker in README.read_text().split(f"{marker}\n")[1:]
    ]


def guide_code() -> str:
    """The README's lines that open a partner message, exactly as partners read them."""
    (code,) = readme_blocks(GUIDE_MARKER)
    return code


def run_guide(key_folder: Path, event: dict[str, Any]) -> dict[str, Any]:
    """What the guide's own lines define, run in the folder that holds the partner's private
    key (``sealed``, to seal free text to Homeward), and ``event``'s ``data`` opened with them
    as the guide says."""
    namespace: dict[str, Any] = {}
    with contextlib.chdir(key_folder):
        exec(guide_code(), namespace)
    opened = namespace["opened"]
    return namespace | {"data": {name: opened(value) for name, value in event["data"].items()}}


def opened_data(key_folder: Path, event: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = run_guide(key_folder, event)["data"]
    return data
