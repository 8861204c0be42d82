"""The keyring: one data key per case, wrapped by a master key, destroyed on erasure.

There is one keyring for the platform, so that erasure destroys a case's key in one place while
every service can open that case's personal fields. Locally it is a table in its own database
(``$HOMEWARD_DATA_DIR/keyring.sqlite3``, or PostgreSQL through ``KEYRING_``-prefixed
eventsourcing variables); in production the same interface belongs on a real KMS (HashiCorp
Vault's transit engine, a cloud KMS). The master key comes from the environment or a key file,
never from the database, and is never logged.
"""

import base64
import binascii
import logging
import os
import secrets
import threading
from collections import OrderedDict
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol
from uuid import UUID, uuid4

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from shared.crypto import DataKey, SealError, unwrap, wrap
from shared.database import Database
from shared.persistence import event_store_env
from shared.settings import Settings
from shared.signatures import SignatureCheck, signing_key

log = logging.getLogger("homeward.keyring")

MASTER_KEY_BYTES = 32
CHECK_CONTEXT = "homeward-keyring-check"

KEYRING_DDL = (
    """CREATE TABLE IF NOT EXISTS homeward_case_keys (
        case_id TEXT PRIMARY KEY,
        key_id TEXT NOT NULL,
        wrapped_key TEXT,
        created_at TEXT NOT NULL,
        destroyed_at TEXT
    )""",
    """CREATE TABLE IF NOT EXISTS homeward_keyring_check (
        id INTEGER PRIMARY KEY,
        wrapped_check TEXT NOT NULL
    )""",
)


class MasterKeyError(RuntimeError):
    """The master key is missing, malformed or not the one this keyring was made with."""


class CaseErased(Exception):
    """The case's data key was destroyed: its personal fields can no longer be written."""


class Keyring(Protocol):
    def create(self, case_id: UUID) -> DataKey: ...
    def unwrap(self, case_id: UUID, *, service: str, purpose: str) -> DataKey | None: ...
    def destroy(self, case_id: UUID) -> None: ...
    def signature_check(self) -> SignatureCheck: ...
    def message_signing_key(self, service: str) -> Ed25519PrivateKey: ...
    def index_key(self, purpose: str) -> bytes: ...


def generate_master_key() -> str:
    return base64.b64encode(secrets.token_bytes(MASTER_KEY_BYTES)).decode()


def load_master_key(settings: Settings) -> bytes:
    if settings.master_key is not None:
        encoded, origin = settings.master_key.get_secret_value(), "HOMEWARD_MASTER_KEY"
    elif settings.master_key_file is not None:
        try:
            encoded = settings.master_key_file.read_text().strip()
        except OSError as error:
            raise MasterKeyError(
                f"cannot read the master key file {settings.master_key_file}: "
                f"{error.strerror}. Homeward will not start without its master key."
            ) from None
        origin = f"the file {settings.master_key_file}"
    else:
        raise MasterKeyError(
            "no master key: set HOMEWARD_MASTER_KEY (base64 of 32 random bytes) or "
            "HOMEWARD_MASTER_KEY_FILE. Homeward refuses to start without it rather than "
            "store personal data unencrypted."
        )
    try:
        key = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        key = b""
    if len(key) != MASTER_KEY_BYTES:
        raise MasterKeyError(f"the master key in {origin} is not base64 of 32 bytes")
    return key


def ensure_master_key_file(path: Path) -> Path:
    """For local runs: a master key file readable by its owner only, made once."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(generate_master_key() + "\n")
    return path


def _now() -> str:
    return datetime.now(UTC).isoformat()


class NoCaseKey(KeyError):
    """The keyring never held a key for this case: a key is made before a case's first event
    is stored, so no message of that case can ever be opened here."""


class SqlKeyring:
    """The keyring as two tables in a database of its own."""

    def __init__(self, database: Database, master_key: bytes) -> None:
        self._database = database
        self._master_key = master_key
        with database.transaction() as tx:
            for statement in KEYRING_DDL:
                tx.execute(statement)
            rows = tx.fetchall("SELECT wrapped_check FROM homeward_keyring_check WHERE id = 1")
            if not rows:
                check = wrap(master_key, secrets.token_bytes(16), CHECK_CONTEXT)
                tx.execute(
                    "INSERT INTO homeward_keyring_check (id, wrapped_check) VALUES (1, ?) "
                    "ON CONFLICT DO NOTHING",
                    (base64.b64encode(check).decode(),),
                )
                return
        try:
            unwrap(master_key, base64.b64decode(rows[0][0]), CHECK_CONTEXT)
        except SealError:
            raise MasterKeyError(
                "the master key does not open this keyring: it is not the key the keyring was "
                "made with. Restore the right key; Homeward will not start without it."
            ) from None

    def create(self, case_id: UUID) -> DataKey:
        """The case's data key, made on first use; refused once the case is erased."""
        secret, key_id = secrets.token_bytes(32), str(uuid4())
        wrapped = base64.b64encode(wrap(self._master_key, secret, str(case_id))).decode()
        with self._database.transaction() as tx:
            tx.execute(
                "INSERT INTO homeward_case_keys (case_id, key_id, wrapped_key, created_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (str(case_id), key_id, wrapped, _now()),
            )
        key = self._read(case_id)
        if key is None:
            raise CaseErased(f"case {case_id} is erased")
        return key

    def index_key(self, purpose: str) -> bytes:
        """A key for a keyed blind index (``purpose`` names which), derived from the master
        key: whoever reads the index without it cannot test a guess against it."""
        label = f"homeward/blind-index/{purpose}".encode()
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(
            self._master_key
        )

    def unwrap(self, case_id: UUID, *, service: str, purpose: str) -> DataKey | None:
        """The case's data key, or None when it was destroyed. Raises KeyError for a case
        that never had one."""
        log.debug("data key of case %s unwrapped for %s (%s)", case_id, service, purpose)
        return self._read(case_id)

    def _read(self, case_id: UUID) -> DataKey | None:
        with self._database.transaction() as tx:
            rows = tx.fetchall(
                "SELECT key_id, wrapped_key FROM homeward_case_keys WHERE case_id = ?",
                (str(case_id),),
            )
        if not rows:
            raise NoCaseKey(case_id)
        key_id, wrapped = rows[0]
        if wrapped is None:
            return None
        secret = unwrap(self._master_key, base64.b64decode(wrapped), str(case_id))
        return DataKey(case_id, key_id, secret)

    def destroy(self, case_id: UUID) -> None:
        """Forget the case's data key for good. Idempotent."""
        with self._database.transaction() as tx:
            if self._database.is_sqlite:
                tx.execute("PRAGMA secure_delete = ON")  # overwrite the freed bytes too
            tx.execute(
                "UPDATE homeward_case_keys SET wrapped_key = NULL, destroyed_at = ? "
                "WHERE case_id = ? AND wrapped_key IS NOT NULL",
                (_now(), str(case_id)),
            )

    def message_signing_key(self, service: str) -> Ed25519PrivateKey:
        """The key ``service`` signs its messages with (:mod:`shared.signatures`)."""
        return signing_key(self._master_key, service)

    def signature_check(self) -> SignatureCheck:
        """What checks the services' signatures on messages."""
        return SignatureCheck(self._master_key)


def open_keyring(settings: Settings, env: dict[str, str] | None = None) -> SqlKeyring:
    """The platform's keyring, as the settings and environment place it."""
    master_key = load_master_key(settings)
    if env is None:
        env = event_store_env("keyring", settings.data_dir)
    return SqlKeyring(Database.named("keyring", env), master_key)


class CaseKeys:
    """One service's access to the keyring, with the unwrapped keys of the cases it used last
    cached in memory only, at most ``cached`` of them: the cache neither grows with every case
    ever seen nor holds more opened keys than the work at hand needs."""

    def __init__(self, keyring: Keyring, service: str, cached: int = 10_000) -> None:
        self.keyring = keyring
        self.service = service
        self.cached = cached
        self._cache: OrderedDict[UUID, DataKey] = OrderedDict()
        self._forgotten: set[UUID] = set()  # erased: never cached again
        self._lock = threading.Lock()

    # The keyring is asked outside the lock, so that one case's round trip to the keyring's
    # database does not hold up every other case's requests.

    def for_sealing(self, case_id: UUID) -> DataKey:
        key = self._cached(case_id)
        if key is None:
            key = self.keyring.create(case_id)
            self._keep(key)
        return key

    def for_opening(self, case_id: UUID, purpose: str) -> DataKey | None:
        key = self._cached(case_id)
        if key is None:
            key = self.keyring.unwrap(case_id, service=self.service, purpose=purpose)
            if key is not None:
                self._keep(key)
        return key

    def _cached(self, case_id: UUID) -> DataKey | None:
        """A cached key, now the last used: one lock for a hit, since every event of a case
        rebuilt asks for its key."""
        with self._lock:
            key = self._cache.get(case_id)
            if key is not None:
                self._cache.move_to_end(case_id)
            return key

    def _keep(self, key: DataKey) -> None:
        with self._lock:
            # A key fetched just before its case was erased serves the request that asked
            # before the erasure, and is kept for no later one.
            if key.case_id in self._forgotten:
                return
            self._cache[key.case_id] = key
            self._cache.move_to_end(key.case_id)
            while len(self._cache) > self.cached:
                self._cache.popitem(last=False)

    def forget(self, case_id: UUID) -> None:
        """Drop a cached key, as on ``CaseErased``, and never cache it again."""
        with self._lock:
            self._cache.pop(case_id, None)
            self._forgotten.add(case_id)
