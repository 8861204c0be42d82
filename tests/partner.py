"""Reading topics the way a partner agency would: a plain kafka-python consumer, the README's
own lines to open what is sealed to the partner, no project code but the key tool we give
partners (`homeward partner keygen`)."""

import base64
import contextlib
import json
import time
import uuid
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer
from nacl.public import PrivateKey

from shared.cli import main as homeward

README = Path(__file__).parent.parent / "README.md"
GUIDE_MARKER = "<!-- tests/partner.py runs this block as it is written here -->"
KEY_FILE = "homeward-partner.key"


def read_messages(
    bootstrap: str, topic: str, *, key: str | None = None, expect: int = 1, timeout: float = 30
) -> list[Any]:
    """Records of ``topic`` (only those with ``key``, if given), once ``expect`` have arrived
    or the timeout passed; reads from the beginning in a consumer group of its own."""
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"partner-test-{uuid.uuid4()}",
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


def as_json(record: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(record.value)
    return document


def partner_keys(folder: Path) -> str:
    """A partner's key pair, made as the guide says (`homeward partner keygen --out`): the
    private key stays in ``folder``; the public key, returned, is what the partner registers."""
    assert homeward(["partner", "keygen", "--out", str(folder)]) == 0
    private_key = PrivateKey(base64.b64decode((folder / KEY_FILE).read_text()))
    return base64.b64encode(bytes(private_key.public_key)).decode()


def guide_code() -> str:
    """The README's lines that open a partner message, exactly as partners read them."""
    after_marker = README.read_text().split(GUIDE_MARKER, 1)[1]
    return after_marker.split("```python\n", 1)[1].split("```", 1)[0]


def run_guide(key_folder: Path, event: dict[str, Any]) -> dict[str, Any]:
    """What the guide's own lines define, run for ``event`` in the folder that holds the
    partner's private key: ``data`` (opened), ``sealed`` (to seal free text to Homeward)."""
    namespace: dict[str, Any] = {"event": event}
    with contextlib.chdir(key_folder):
        exec(guide_code(), namespace)
    return namespace


def opened_data(key_folder: Path, event: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = run_guide(key_folder, event)["data"]
    return data
