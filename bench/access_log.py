"""What recording every read in the access log costs, on a SQLite event store.

Concurrent reads (threads, as FastAPI runs sync routes) each load an aggregate and then record
one access, waiting for its commit. Three runs in the same process and store: the read alone
(the baseline the ratios are against), the read with one commit per access, and the read with
the group commit the services use. Prints
figures; never asserts a timing. ``.venv/bin/python bench/access_log.py --reads 2000``.
"""

import argparse
import base64
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from shared.access import Caller, Role
from shared.accesslog import Access, AccessLog, Outcome
from shared.application import ServiceApplication
from shared.database import Database
from shared.keyring import CaseKeys, SqlKeyring, generate_master_key

CALLER = Caller(sub="cw-0412", role=Role.CASEWORKER, agency="CD-KIN")


def application(folder: Path) -> ServiceApplication:
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(folder / "store.sqlite3"),
        "SQLITE_LOCK_TIMEOUT": "30",
    }
    keyring = SqlKeyring(Database.named("keyring", env), base64.b64decode(generate_master_key()))
    return ServiceApplication(env, lambda: datetime.now(UTC), CaseKeys(keyring, "bench"))


def reads_per_second(reads: int, threads: int, read: Callable[[], None]) -> float:
    per_thread = reads // threads

    def work() -> None:
        for _ in range(per_thread):
            read()

    workers = [threading.Thread(target=work) for _ in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return per_thread * threads / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reads", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=40, help="FastAPI's pool is 40")
    arguments = parser.parse_args()

    def access() -> Access:
        route = "GET /cases/{case_id}"
        return Access("read_case", Outcome.ALLOWED, route, "case", CALLER, uuid.uuid4())

    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        store = application(folder)
        stored = access().record("bench")
        store.save(stored)

        def read() -> None:
            store.repository.get(stored.id)  # what a read of one case costs, at least

        baseline = reads_per_second(arguments.reads, arguments.threads, read)

        def read_then_commit_alone() -> None:
            read()
            store.save(access().record("bench"))

        one_by_one = reads_per_second(arguments.reads, arguments.threads, read_then_commit_alone)
        log = AccessLog("bench", store.save)
        before = store.recorder.max_notification_id() or 0

        def read_then_group_commit() -> None:
            read()
            log.record(access())

        group_commit = reads_per_second(arguments.reads, arguments.threads, read_then_group_commit)
        commits = (store.recorder.max_notification_id() or 0) - before

    print(f"{arguments.reads} reads on {arguments.threads} threads, SQLite store")
    print(f"  read, no access log (baseline): {baseline:8.0f} reads/s")
    print(
        f"  read + one commit per access:   {one_by_one:8.0f} reads/s  "
        f"({one_by_one / baseline:.3f}x)"
    )
    print(
        f"  read + group commit (services): {group_commit:8.0f} reads/s  "
        f"({group_commit / baseline:.3f}x; {group_commit / one_by_one:.1f}x one-by-one)"
    )
    print(f"  records written by the group-commit run: {commits}")


if __name__ == "__main__":
    main()
