"""Every message a service publishes is signed by that service, so that an auditor who reads
only Kafka can tell a message the platform published from one altered or forged on the topic.

The relay adds the CloudEvents extension attribute ``signature``: an Ed25519 signature, in
base64, over the message's canonical bytes (every other attribute and the data, as JSON with
sorted keys and no spaces). Each service signs with its own key, derived from the keyring's
master key (HKDF-SHA256, one label per service), so no new secret has to be kept or handed out:
whoever may use the keyring (the services, an auditor's command) can derive the public keys,
while someone who can only write to a topic cannot sign. Erasure does not touch it: a message
republished after erasure is signed again over what it then carries.

What a signature cannot show (a message removed, or one stored but never published) the
case's sequences show (:func:`broken_sequences`), and the chain and checkpoints
(:mod:`shared.chain`, :mod:`shared.audit`) show in the stores.
"""

import base64
import json
from collections.abc import Iterable
from enum import StrEnum

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from shared.envelope import CloudEvent

SIGNATURE = "signature"
SIGNING_LABEL = b"homeward/message-signature/v1/"


class Verdict(StrEnum):
    VALID = "valid"
    INVALID = "invalid"  # altered, forged, or signed by another service than its source
    UNSIGNED = "unsigned"  # published before messages were signed, or not by the platform


def signing_key(master_key: bytes, service: str) -> Ed25519PrivateKey:
    """A service's signing key, the same wherever the master key is."""
    seed = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=SIGNING_LABEL + service.encode()
    ).derive(master_key)
    return Ed25519PrivateKey.from_private_bytes(seed)


def signed_bytes(message: CloudEvent) -> bytes:
    """The message's canonical bytes, without its signature."""
    document = message.model_dump(mode="json", exclude_none=True, exclude={SIGNATURE})
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(message: CloudEvent, key: Ed25519PrivateKey) -> CloudEvent:
    signature = base64.b64encode(key.sign(signed_bytes(message))).decode()
    return message.model_copy(update={SIGNATURE: signature})


def source_service(message: CloudEvent) -> str:
    return message.source.rpartition("/")[2]


class SignatureCheck:
    """Checks messages against the public keys of the services that published them."""

    def __init__(self, master_key: bytes) -> None:
        self._master_key = master_key
        self._keys: dict[str, Ed25519PublicKey] = {}

    def _public_key(self, service: str) -> Ed25519PublicKey:
        if service not in self._keys:
            self._keys[service] = signing_key(self._master_key, service).public_key()
        return self._keys[service]

    def verdict(self, message: CloudEvent) -> Verdict:
        signature = message.signature
        if signature is None:
            return Verdict.UNSIGNED
        try:
            self._public_key(source_service(message)).verify(
                base64.b64decode(signature, validate=True), signed_bytes(message)
            )
        except (InvalidSignature, ValueError, TypeError):
            return Verdict.INVALID
        return Verdict.VALID


def broken_sequences(messages: Iterable[CloudEvent], subject: str) -> list[int]:
    """The versions of ``subject`` missing between its first and its last message: each a
    fact removed from the topic (every fact of the aggregates this is asked of is
    published)."""
    seen = {int(m.sequence) for m in messages if m.subject == subject and m.sequence}
    if not seen:
        return []
    return [version for version in range(1, max(seen) + 1) if version not in seen]
