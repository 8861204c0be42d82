"""The services' SQLite stores: WAL without an fsync at every commit, unless told otherwise."""

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
