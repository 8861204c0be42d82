"""The services' SQLite stores: WAL without an fsync at every commit, unless told otherwise."""

import threading
from pathlib import Path

import pytest
from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.utils import Environment

from shared.persistence import event_store_env


def synchronous_of(env: dict[str, str]) -> int:
    factory = InfrastructureFactory.construct(Environment("intake", env))
    with factory.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
        cursor.execute("PRAGMA synchronous")
        return int(cursor.fetchone()[0])


def test_a_service_store_commits_without_syncing_each_commit(tmp_path: Path) -> None:
    env = event_store_env("intake", tmp_path)
    assert synchronous_of(env) == 1  # NORMAL
    with (tmp_path / "intake.sqlite3").open("rb") as stored:
        assert stored.read(16) == b"SQLite format 3\x00"


def test_full_syncs_every_commit_when_asked(tmp_path: Path) -> None:
    env = event_store_env("intake", tmp_path) | {"SQLITE_SYNCHRONOUS": "full"}
    assert synchronous_of(env) == 2  # FULL


def test_an_unknown_mode_is_refused_with_the_choices(tmp_path: Path) -> None:
    env = event_store_env("intake", tmp_path) | {"SQLITE_SYNCHRONOUS": "sometimes"}
    with pytest.raises(Exception, match="choose one of OFF, NORMAL, FULL, EXTRA"):
        synchronous_of(env)


def test_two_processes_read_then_write_one_file_without_being_refused(tmp_path: Path) -> None:
    """The API and its worker: two pools (two processes' worth of connections) on one file,
    each transaction reading before it writes, as a check-then-insert does."""
    env = event_store_env("intake", tmp_path)
    stores = [InfrastructureFactory.construct(Environment("intake", env)) for _ in range(2)]
    with stores[0].datastore.transaction(commit=True) as cursor:  # type: ignore[attr-defined]
        cursor.execute("CREATE TABLE counted (n INTEGER)")
    refused: list[Exception] = []

    def check_then_insert(store: InfrastructureFactory) -> None:  # type: ignore[type-arg]
        for _ in range(200):
            try:
                with store.datastore.transaction(commit=True) as cursor:  # type: ignore[attr-defined]
                    cursor.execute("SELECT count(*) FROM counted")
                    (count,) = cursor.fetchone()
                    cursor.execute("INSERT INTO counted VALUES (?)", (count + 1,))
            except Exception as error:
                refused.append(error)

    threads = [threading.Thread(target=check_then_insert, args=(s,)) for s in stores * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert refused == []
    with stores[0].datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
        cursor.execute("SELECT count(*), max(n) FROM counted")
        assert tuple(cursor.fetchone()) == (800, 800)  # each saw every earlier insert
