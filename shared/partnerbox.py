"""Sealing a field to one party's X25519 public key (a NaCl sealed box), and opening it.

What a partner receives on Kafka carries every field the allow-list does not name as
``{"alg": "X25519-SealedBox", "ct": <base64url, no padding>}``: libsodium's
``crypto_box_seal`` (an ephemeral X25519 key agreement, then XSalsa20-Poly1305), so only the
holder of the private key opens it; not the broker, its disks and backups, nor another partner.
The plaintext is the field's JSON value, as in :mod:`shared.crypto`. Partners seal their free
text back to the referral service's own key in the same form.

A sealed box says nothing about who sealed it: who may write to a topic is the broker's ACLs'
business.
"""

import base64
import binascii
import json
from typing import Any, TypeGuard

from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox

from shared.allowlist import is_clear
from shared.crypto import SealError, b64url, unb64url

ALGORITHM = "X25519-SealedBox"
PUBLIC_KEY_BYTES = 32
PARTNER_SEALED_FIELD_SCHEMA = "partner-sealed-field.json"
PARTNER_SEALED_FIELD_URI = "urn:homeward:schema:partner-sealed-field"
PARTNER_KEY_FILE = "homeward-partner.key"  # what `homeward partner keygen` writes


def encoded_key(key: PublicKey | PrivateKey) -> str:
    """A key as partners exchange it: standard base64 of its 32 bytes."""
    return base64.b64encode(bytes(key)).decode()


def public_key_from_text(text: str) -> PublicKey:
    """Raise ``ValueError`` with a message fit for the partner unless ``text`` is the base64 of
    a 32-byte X25519 public key."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("must be standard base64 (A-Z, a-z, 0-9, +, /, =)") from None
    if len(raw) != PUBLIC_KEY_BYTES:
        raise ValueError(
            f"must encode a {PUBLIC_KEY_BYTES}-byte X25519 public key, not "
            f"{len(raw)} bytes: give the one `homeward partner keygen` printed"
        )
    return PublicKey(raw)


def is_box_sealed(value: Any) -> TypeGuard[dict[str, str]]:
    return isinstance(value, dict) and value.get("alg") == ALGORITHM and "ct" in value


def seal_to(public_key: PublicKey, value: Any) -> dict[str, str]:
    """Seal a JSON value so that only the holder of ``public_key``'s private key opens it."""
    plaintext = json.dumps(value, ensure_ascii=False).encode()
    return {"alg": ALGORITHM, "ct": b64url(SealedBox(public_key).encrypt(plaintext))}


def open_sealed(private_key: PrivateKey, sealed: dict[str, str]) -> Any:
    try:
        return json.loads(SealedBox(private_key).decrypt(unb64url(sealed["ct"])))
    except (CryptoError, KeyError, ValueError) as error:
        raise SealError("a sealed box does not open with this key") from error


def sealed_fields_to(public_key: PublicKey, data: dict[str, Any]) -> dict[str, Any]:
    """Every field but the allow-listed ones sealed to ``public_key``."""
    return {
        name: value if is_clear(name) else seal_to(public_key, value)
        for name, value in data.items()
    }
