"""A service whose relays and consumers run in a worker process (`homeward work`) reports
their state on its API's health page from the worker's report, and says when the worker is
silent."""

import json
import time
from pathlib import Path

from services.intake.service import build_runtime
from shared.keyring import generate_master_key
from shared.runtime import WORKER_REPORT_MAX_AGE_SECONDS
from shared.settings import Settings


def settings_in(folder: Path) -> Settings:
    # No broker: nothing here starts a client; the health page then says Kafka is unreachable.
    return Settings(
        kafka_bootstrap="127.0.0.1:9", data_dir=folder, master_key=generate_master_key()
    )


def test_the_api_reports_the_relays_and_consumers_as_its_worker_last_saw_them(tmp_path: Path):
    settings = settings_in(tmp_path)
    worker = build_runtime(settings)
    api = build_runtime(settings)
    api.background_in_worker = True
    try:
        api.start()  # starts nothing: the worker runs them
        assert not api.relay.running
        assert not any(consumer.running for consumer in api.consumers)

        assert "the worker process has not reported" in api.health()["degraded_because"]

        worker.write_worker_report()
        written = json.loads(worker.worker_report_file.read_text())
        health = api.health()
        assert health["relay"] == written["relay"]
        assert set(health["consumers"]) == {consumer.name for consumer in worker.consumers}
        assert not any("worker" in reason for reason in health["degraded_because"])

        stale = time.time() - WORKER_REPORT_MAX_AGE_SECONDS - 5
        report = json.loads(worker.worker_report_file.read_text()) | {"at": stale}
        worker.worker_report_file.write_text(json.dumps(report))
        reasons = api.health()["degraded_because"]
        assert any(
            reason.startswith("the worker process has not reported for") for reason in reasons
        )
    finally:
        api.stop()
        worker.stop()
    assert not worker.worker_report_file.with_suffix(".tmp").exists()
