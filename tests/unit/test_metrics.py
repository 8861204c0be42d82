"""Requests are counted by route template, never by the path they were called with; a
worker knows how long it has been failing and whether its loop died."""

import time

from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, Histogram

from shared.background import BackgroundWorker
from shared.metrics import RequestMetrics

CASE_ID = "5f0c2b1e-8a3d-4c6f-9e2a-1b7d3c4e5f60"


def counted(histogram: Histogram) -> dict[tuple[str, str, str], float]:
    return {
        (s.labels["method"], s.labels["route"], s.labels["status_class"]): s.value
        for metric in histogram.collect()
        for s in metric.samples
        if s.name.endswith("_count")
    }


def test_requests_are_counted_by_route_template_method_and_status_class():
    histogram = Histogram(
        "requests", "test", ["method", "route", "status_class"], registry=CollectorRegistry()
    )
    app = FastAPI()
    app.add_middleware(RequestMetrics, histogram=histogram)

    @app.get("/cases/{case_id}")
    def read(case_id: str) -> dict[str, str]:
        if case_id == "boom":
            raise RuntimeError("a bug")
        return {"case_id": case_id}

    client = TestClient(app, raise_server_exceptions=False)
    assert client.get(f"/cases/{CASE_ID}").status_code == 200
    assert client.get(f"/elsewhere/{CASE_ID}").status_code == 404
    assert client.request("BREW", f"/cases/{CASE_ID}").status_code == 405
    assert client.get("/cases/boom").status_code == 500

    assert counted(histogram) == {
        ("GET", "/cases/{case_id}", "2xx"): 1,
        ("GET", "unrouted", "4xx"): 1,
        ("other", "/cases/{case_id}", "4xx"): 1,
        ("GET", "/cases/{case_id}", "5xx"): 1,
    }


class Quitting(BackgroundWorker):
    def run(self) -> None:
        """Ends at once, as a loop would that something escaped."""


def test_a_worker_knows_how_long_it_has_been_failing_and_whether_its_loop_died():
    worker = Quitting("test")
    assert worker.failing_for() == 0
    worker.last_error = "first failure"
    time.sleep(0.05)
    worker.last_error = "second failure"  # still failing since the first one
    assert worker.failing_for() >= 0.05
    worker.last_error = None
    assert worker.failing_for() == 0

    assert not worker.died  # never started
    worker.start()
    deadline = time.monotonic() + 5
    while worker.running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert worker.died
    worker.stop()
    assert not worker.died  # stopped, as asked
