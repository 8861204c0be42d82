"""The referral service's own X25519 key pair: partners seal their free-text answers to it.

A decline's or a discontinuation's reason and a milestone's detail are free text about a child;
on a partner's replies topic they travel sealed to this key (the same sealed box, the same
``{"alg": "X25519-SealedBox", "ct": ...}`` form as what partners receive), so the broker's disks
hold nothing readable either way. Its public key is served at ``GET /partners/reply-key`` and
carried in every ``ReferralReceived`` as ``reply_key``.

The private key lives in the referral service's own database, wrapped by the master key
(:func:`shared.crypto.wrap`), not in the keyring: the keyring holds one key per case for every
service and destroys it on erasure, while this key belongs to the referral service alone, is
about no case and must outlive every erasure. A copy of the database alone opens nothing.
"""

import base64
from typing import Any

from nacl.public import PrivateKey

from shared.crypto import SealError, unwrap, wrap
from shared.database import Database
from shared.partnerbox import encoded_key, is_box_sealed, open_sealed

# The answers' free-text fields: what a partner must seal on Kafka.
FREE_TEXT_FIELDS = ("reason", "detail")
WRAP_CONTEXT = "homeward-referral-reply-key"
REPLY_KEY_DDL = """CREATE TABLE IF NOT EXISTS homeward_reply_key (
    id INTEGER PRIMARY KEY,
    wrapped_private_key TEXT NOT NULL
)"""


class ReplyKey:
    def __init__(self, private_key: PrivateKey) -> None:
        self._private_key = private_key
        self.public_key = encoded_key(private_key.public_key)

    @classmethod
    def of_service(cls, database: Database, master_key: bytes) -> "ReplyKey":
        """The service's key pair, made on first start; a second process starting at the same
        time keeps the one stored first."""
        candidate = base64.b64encode(
            wrap(master_key, bytes(PrivateKey.generate()), WRAP_CONTEXT)
        ).decode()
        with database.transaction() as tx:
            tx.execute(REPLY_KEY_DDL)
            tx.execute(
                "INSERT INTO homeward_reply_key (id, wrapped_private_key) VALUES (1, ?) "
                "ON CONFLICT (id) DO NOTHING",
                (candidate,),
            )
            ((wrapped,),) = tx.fetchall("SELECT wrapped_private_key FROM homeward_reply_key")
        return cls(PrivateKey(unwrap(master_key, base64.b64decode(wrapped), WRAP_CONTEXT)))

    def opened_answer(self, data: dict[str, Any], *, sealed_only: bool) -> dict[str, Any]:
        """An answer's data with its free text opened. Raise ``SealError`` when a free-text
        field does not open, or when ``sealed_only`` and one came in plaintext."""
        opened = dict(data)
        for field in FREE_TEXT_FIELDS:
            value = data.get(field)
            if is_box_sealed(value):
                opened[field] = open_sealed(self._private_key, value)
            elif value is not None and sealed_only:
                raise SealError(
                    f"{field} must be sealed to the referral service's reply_key "
                    "(GET /partners/reply-key), never sent in plaintext"
                )
        return opened
