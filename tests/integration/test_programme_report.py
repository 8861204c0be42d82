"""Programme reports from a replay of the topics, on the real broker: a seeded programme of
2,000 synthetic cases (``tests/synthetic.py``) is published as the services publish, some of
its cases erased, and the report made from the topics is checked against counts made here,
from the plaintext events, apart from the projection's code; then its disclosure control, its
files, its access rules and its rendering in Chromium."""

import csv
import json
import os
import sqlite3
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.intake.domain import ChildCase
from services.intake.reports.projection import Cell, Coarsening, StatisticsProjection
from services.intake.reports.render import as_html, as_json, releases_by_month_chart
from services.intake.reports.replay import IN_MEMORY, ReplayFigures, replay_statistics
from services.intake.reports.tables import Report, Scope, build_report
from services.intake.service import build_runtime, create_app
from shared.access import Role
from shared.cli import main
from shared.database import Database
from shared.envelope import CloudEvent
from shared.kafka import (
    ADMIN,
    KafkaConnection,
    ensure_topics,
    kafka_connection,
    reliable_producer,
)
from shared.keyring import CaseKeys, open_keyring
from shared.privacy import open_personal_fields
from shared.runtime import CASE_ERASED, ServiceRuntime
from shared.settings import REPO_ROOT, Settings
from shared.topicreader import KafkaPythonReader
from tests.browser import screenshot_path
from tests.conftest import platform_settings, sqlite_store
from tests.disclosurecheck import determined_cells, hidden_in_empty_lines, visible_small_cells
from tests.integration.test_case_audit import platform_env
from tests.processes import run_readme_command
from tests.signin import Tokens, local_token
from tests.synthetic import (
    PLACES,
    REFERENCE,
    Publisher,
    SyntheticProgramme,
    erase,
    generate,
    publish,
)

pytestmark = pytest.mark.kafka

SEED, CASES = 2026, 2_000
README = REPO_ROOT / "README.md"
README_CHART = REPO_ROOT / "docs" / "reports" / "releases-by-month.svg"
THRESHOLD = 5
WHOLE_PERIOD = Scope("2025-01", "2026-12")


@dataclass
class Consumed:
    """What intake's statistics consumer did with the topics, and what it kept."""

    applied: int
    parked: int
    seconds: float
    cells: list[tuple[Cell, int]]


@dataclass
class Seeded:
    """The seeded programme on this test's topics; the cells intake's live statistics
    projection kept as it read them (before the erasures destroyed any key), and those of
    one replay of them afterwards. Each report below is made from either."""

    settings: Settings
    programme: SyntheticProgramme
    topics: list[str]
    reference: Path
    runtime: ServiceRuntime  # intake's, its statistics kept live from the topics
    live: Consumed
    cells: list[tuple[Cell, int]]  # the replay's
    figures: ReplayFigures

    def report_of(self, scope: Scope) -> Report:
        """The report intake serves: from the counts it keeps."""
        return build_report(self.live.cells, scope, THRESHOLD, datetime.now(UTC))

    @property
    def report(self) -> Report:
        return self.report_of(WHOLE_PERIOD)

    @property
    def replayed(self) -> Report:
        return build_report(self.cells, WHOLE_PERIOD, THRESHOLD, datetime.now(UTC))

    def case_keys(self) -> CaseKeys:
        # A reader of its own, as a service that never saw the erasures: keys from the ring.
        return CaseKeys(open_keyring(self.settings), "statistics")


@pytest.fixture(scope="module")
def seeded(kafka_broker, tmp_path_factory) -> Iterator[Seeded]:
    folder = tmp_path_factory.mktemp("programme-report")
    settings = platform_settings(kafka_broker, folder)
    keyring = open_keyring(settings)
    started = time.monotonic()
    programme = generate(SEED, CASES, CaseKeys(keyring, "intake"))
    generated = time.monotonic() - started
    # Topics of this test's own: the platform's carry whatever the session's services sent.
    run = uuid.uuid4().hex[:8]
    topics = {service: f"test.report.{run}.{service}.events" for service in programme_services()}
    admin = kafka_connection(settings, ADMIN)
    ensure_topics(admin, topics.values())
    # The erasures come once the rest was read, as they do: after the facts they erase.
    erasures = [(s, m) for s, m in programme.messages if m.type == CASE_ERASED]
    facts = [(s, m) for s, m in programme.messages if m.type != CASE_ERASED]
    producer = reliable_producer(admin, "synthetic-programme", 30)
    try:
        publish(replace(programme, messages=facts), producer, topics)
        # Written to the topic by someone who is not the service: counted nowhere.
        for forged in forgeries(programme, CaseKeys(keyring, "intake")):
            producer.send(topics["intake"], value=forged.to_bytes(), key=forged.caseid.encode())
        producer.flush()
        reference = folder / "reference.json"
        reference.write_text(json.dumps(REFERENCE))
        with pytest.MonkeyPatch.context() as env:
            env.setenv("HOMEWARD_REPORT_REFERENCE_FILE", str(reference))
            # Intake on the platform's data folder, where `homeward report` reads its counts.
            runtime = build_runtime(settings)
        live = consume(
            runtime,
            list(topics.values()),
            admin,
            [len(facts) + 2, len(erasures)],
            lambda: publish(replace(programme, messages=erasures), producer, topics),
        )
    finally:
        producer.close()
    erase(programme, keyring)
    projection = StatisticsProjection(
        Database.named("statistics", IN_MEMORY),
        CaseKeys(open_keyring(settings), "statistics"),
        Coarsening.from_file(str(reference)),
    )
    reader = KafkaPythonReader(admin)
    try:
        figures = replay_statistics(projection, reader, list(topics.values()))
    finally:
        reader.close()
    print(
        f"{CASES} cases, {len(programme.messages)} messages generated in {generated:.1f} s; "
        f"kept live by intake's consumer ({live.applied} applied, {live.parked} parked) in "
        f"{live.seconds:.1f} s, {live.applied / live.seconds:.0f} messages/s; replayed "
        f"({figures.messages} read, {figures.applied} applied) in {figures.seconds:.1f} s"
    )
    try:
        yield Seeded(
            settings,
            programme,
            list(topics.values()),
            reference,
            runtime,
            live,
            projection.cells(),
            figures,
        )
    finally:
        runtime.application.close()


def consume(
    runtime: ServiceRuntime,
    topics: list[str],
    admin: KafkaConnection,
    expected: list[int],
    between: Callable[[], None],
) -> Consumed:
    """Run intake's statistics consumer, as intake runs it, over this test's copy of the
    topics (read as the administrator: intake's principal may read only the platform's)
    until it has taken the ``expected`` messages, then, after ``between``, the next ones."""
    statistics = runtime.application.statistics
    assert statistics is not None
    consumer = runtime.consumer(statistics.subscription(topics), admin)
    started = time.monotonic()
    taken = 0
    try:
        for phase in range(len(expected)):
            if phase:
                between()
            while taken < sum(expected[: phase + 1]):
                assert time.monotonic() - started < 300, f"{taken} of {expected} messages taken"
                taken += consumer.poll_once(timeout_ms=1000)
    finally:
        consumer.close()
    return Consumed(
        sum(consumer.applied.values()),
        sum(consumer.parked.values()),
        time.monotonic() - started,
        statistics.cells(),
    )


def forgeries(programme: SyntheticProgramme, case_keys: CaseKeys) -> list[CloudEvent]:
    """A consent withdrawn that no one withdrew (no sealed field: anyone could write it), and
    a registration copied under a new id with its old signature."""
    case_id, consent = next(
        (case_id, event.consent_id)
        for _service, case_id, event in programme.events
        if type(event).__name__ == "ConsentGiven" and case_id not in programme.erased
    )
    withdrawn = ChildCase.ConsentWithdrawn(
        originator_id=case_id,
        originator_version=999,
        timestamp=datetime(2026, 11, 1, tzinfo=UTC),
        consent_id=consent,
        recorded_by="cw-0001",
    )
    unsigned = (
        Publisher(case_keys).message("intake", withdrawn).model_copy(update={"signature": None})
    )
    registration = next(m for _s, m in programme.messages if m.caseid == str(case_id))
    copied = registration.model_copy(update={"id": str(uuid.uuid4())})
    return [unsigned, copied]


def programme_services() -> tuple[str, ...]:
    return ("intake", "referral", "followup")


# --- counts made here, from the plaintext events ------------------------------------------


def band(age: int) -> str:
    return "under-10" if age < 10 else "10-14" if age < 15 else "15-17" if age < 18 else "18-plus"


def hours_bucket(hours: float, edges: list[int], unit: str) -> str:
    below = [edge for edge in edges if edge <= hours]
    low = below[-1]
    following = edges[edges.index(low) + 1] if low != edges[-1] else None
    return f"{low}-{following} {unit}" if following is not None else f"{low}+ {unit}"


def expected_counts(
    programme: SyntheticProgramme, scope: Scope, erased_after_counting: bool = False
) -> Counter:
    """(table, row, column) -> count, for the cases the report is about: an erased case in
    the erased line (as a replay after its erasure counts it) or, ``erased_after_counting``,
    as any other (as the live projection, which counted it before, keeps it)."""
    by_case: dict[uuid.UUID, list[tuple[str, Any]]] = {}
    for service, case_id, event in programme.events:
        by_case.setdefault(case_id, []).append((service, event))
    counts: Counter = Counter()
    for case_id, events in by_case.items():
        named = {type(event).__name__: event for _service, event in events}
        registered = named["ChildRegistered"]
        agency = registered.registering_agency
        month = registered.released_on.isoformat()[:7]
        if case_id in programme.erased and not erased_after_counting:
            erased_month = registered.timestamp.strftime("%Y-%m")
            if scope.holds(erased_month, agency):
                counts[("erased", "cases", "total")] += 1
            continue
        if not scope.holds(month, agency):
            continue
        consents = {
            e.consent_id
            for _s, e in events
            if type(e).__name__ == "ConsentGiven" and e.purpose in ("statistics", "monitoring")
        }
        withdrawn = {e.consent_id for _s, e in events if type(e).__name__ == "ConsentWithdrawn"}
        if not consents - withdrawn:
            counts[("no_consent", "cases", "total")] += 1
            continue
        sex = registered.sex
        listed = REFERENCE["parties"].get(
            registered.armed_group, "group not on the programme's list"
        )
        kind = registered.armed_group_kind.replace("_", " ")
        place = registered.release_place.split(",")[0]
        region = REFERENCE["regions"].get(place, "region not on the programme's list")
        counts[("releases_by_party", f"{listed} ({kind})", sex)] += 1
        counts[("releases_by_age", band(registered.estimated_age), sex)] += 1
        counts[("releases_by_exit", registered.how_left.replace("_", " "), sex)] += 1
        counts[("releases_by_region", region, sex)] += 1
        counts[("releases_by_month", month, sex)] += 1
        if "HandedOver" in named:
            start = datetime.combine(registered.released_on, datetime.min.time(), UTC)
            hours = (named["HandedOver"].handed_over_at - start).total_seconds() / 3600
            edges = [0, 6, 12, 24, 36, 48, 72, 96, 168, 336]
            counts[("handover_time", hours_bucket(hours, edges, "h"), sex)] += 1
            counts[("handover_deadline", "met" if hours <= 48 else "missed", sex)] += 1
        if "InterimCareEnded" in named:
            days = (named["InterimCareEnded"].left_on - named["InterimCarePlaced"].entered_on).days
            edges = [0, 1, 2, 4, 6, 8, 10, 12, 16, 20, 26, 52]
            counts[("interim_care_time", hours_bucket(days / 7, edges, "wk"), sex)] += 1
            met = "met" if days / 7 <= 12 else "missed"
            counts[("interim_care_deadline", met, sex)] += 1
        outcomes = set()
        for name, outcome in (
            ("Reunified", "reunified"),
            ("ReunificationBrokeDown", "return broke down"),
            ("AlternativeCareArranged", "alternative care"),
            ("TracingClosedUnsuccessful", "tracing unsuccessful"),
        ):
            if name in named:
                outcomes.add(outcome)
        for _s, event in events:
            kind_of = type(event).__name__
            if kind_of == "VisitCompleted" and event.attending_school:
                outcomes.add("in school or training")
            if kind_of == "MilestoneReported":
                outcomes.add(
                    "earning" if event.milestone == "income_reported" else "in school or training"
                )
            if kind_of == "CaseClosed":
                outcomes.add(
                    {"lost_contact": "lost to follow up", "re_recruited": "re recruited"}[
                        event.reason
                    ]
                )
        for outcome in outcomes:
            counts[("outcomes", outcome, sex)] += 1
        referrals: dict[uuid.UUID, str] = {}
        due: dict[int, date] = {}
        for _s, event in events:
            kind_of = type(event).__name__
            if kind_of == "ReferralMade":
                referrals[event.originator_id] = f"{event.agency} {event.service.replace('_', ' ')}"
                counts[("referrals", referrals[event.originator_id], "made")] += 1
            state = {
                "ReferralAccepted": "accepted",
                "ReferralDeclined": "declined",
                "ServiceCompleted": "completed",
            }.get(kind_of)
            if state:
                counts[("referrals", referrals[event.originator_id], state)] += 1
            if kind_of == "VisitScheduled":
                due[event.number] = event.due_on
            if kind_of == "VisitCompleted":
                on_time = event.visited_on <= due[event.number]
                counts[("visits", "done on time" if on_time else "done late", sex)] += 1
            if kind_of == "VisitMissed":
                counts[("visits", "missed, not done since", sex)] += 1
        recorded = {
            event.number
            for _s, event in events
            if type(event).__name__ in ("VisitCompleted", "VisitMissed")
        }
        this_month = datetime.now(UTC).strftime("%Y-%m")
        for number, due_on in due.items():
            if number not in recorded and due_on.isoformat()[:7] < this_month:
                counts[("visits", "due before this month, not recorded", sex)] += 1
    return counts


def report_counts(report: Report) -> Counter:
    """The report's inner cells before suppression (what it counted), and its two lines."""
    counts: Counter = Counter()
    for table in [*report.tables, report.by_month]:
        for r, row in enumerate(table.grid.rows):
            for c, column in enumerate(table.spec.columns):
                if table.grid.values[r][c]:
                    counts[(table.spec.key, row, column)] = table.grid.values[r][c]
    for line, count in report.set_aside.items():
        if count:
            counts[(line, "cases", "total")] = count
    return counts


def test_the_counts_kept_live_are_what_the_raw_events_say(seeded):
    expected = expected_counts(seeded.programme, WHOLE_PERIOD, erased_after_counting=True)
    assert report_counts(seeded.report) == expected
    # Every message applied but the two written by someone who is not the service, parked.
    assert seeded.live.applied == len(seeded.programme.messages)
    assert seeded.live.parked == 2
    # The seeded programme looks like one: mostly boys, mostly 15-17, most handed over.
    # "Reunified" counts every child ever reunified; the returns that broke down since apart.
    assert (
        0
        < expected[("outcomes", "return broke down", "male")]
        < (expected[("outcomes", "reunified", "male")] / 8)
    )
    girls = sum(v for (t, _r, c), v in expected.items() if t == "releases_by_age" and c == "female")
    children = sum(v for (t, _r, _c), v in expected.items() if t == "releases_by_age")
    assert 0.12 < girls / children < 0.22


def test_a_replay_counts_what_the_raw_events_say_the_cases_erased_before_it_in_one_line(seeded):
    expected = expected_counts(seeded.programme, WHOLE_PERIOD)
    assert report_counts(seeded.replayed) == expected
    assert expected[("erased", "cases", "total")] == len(seeded.programme.erased) > 0
    assert seeded.figures.refused == 0
    assert seeded.figures.forged == 2


def test_a_country_and_a_period_count_only_their_children(seeded):
    scope = Scope("2026-01", "2026-06", country="CF")
    expected = expected_counts(seeded.programme, scope, erased_after_counting=True)
    assert report_counts(seeded.report_of(scope)) == expected


SAME_CHILDREN = (
    ("releases_by_party", "releases_by_age", "releases_by_exit", "releases_by_region"),
    ("releases_by_age", "releases_by_month"),
    ("handover_time", "handover_deadline"),
    ("interim_care_time", "interim_care_deadline"),
)


@pytest.mark.parametrize(
    "scope",
    [
        WHOLE_PERIOD,
        Scope("2026-01", "2026-06", country="CF"),
        Scope("2025-03", "2025-03", agency="CD-BKV"),
    ],
    ids=["whole", "one-country-half-year", "one-agency-one-month"],
)
def test_no_count_under_the_threshold_shows_and_none_hidden_follows_from_the_totals(seeded, scope):
    report = seeded.report_of(scope)
    hidden = 0
    for table in [*report.tables, report.by_month]:
        assert visible_small_cells(table.grid, THRESHOLD) == [], table.spec.key
        assert determined_cells(table.grid) == [], table.spec.key
        assert hidden_in_empty_lines(table.grid) == [], table.spec.key
        hidden += sum(
            table.grid.hidden(r, c)
            for r in range(table.grid.height)
            for c in range(table.grid.width)
        )
    assert hidden > 0  # small cells there are, in a programme this size
    # Tables of the same children share their totals: shown alike, or one would give away
    # what another hides.
    for group in SAME_CHILDREN:
        totals = {
            key: (report.by_month if key == "releases_by_month" else report.table(key)).lines(
                THRESHOLD
            )[-1][1:]
            for key in group
        }
        assert len({tuple(line) for line in totals.values()}) == 1, totals
    for figure in report.figures:
        assert figure.value not in {str(n) for n in range(1, THRESHOLD)}


def test_homeward_report_writes_html_json_and_a_csv_per_table(
    seeded, monkeypatch, capsys, tmp_path
):
    out = tmp_path / "report"
    code, err = report_command(seeded, monkeypatch, capsys, "--out", str(out))
    assert code == 0, err
    document = json.loads((out / "report.json").read_text())
    assert document["scope"]["agency"] is None
    assert document["tables"]["releases_by_age"]["rows"] == seeded.report.table(
        "releases_by_age"
    ).published(THRESHOLD)
    with (out / "releases_by_exit.csv").open() as file:
        assert list(csv.reader(file)) == [
            seeded.report.table("releases_by_exit").header(),
            *seeded.report.table("releases_by_exit").lines(THRESHOLD),
        ]
    html = (out / "report.html").read_text()
    assert html.count("<svg") == 3
    # Self-contained: only the SVG namespaces name anything outside the file.
    assert html.replace("http://www.w3.org/", "").count("http") == 0
    assert "from the counts intake keeps" in err
    # From a replay of the topics: the cases erased before it in one line.
    replayed = tmp_path / "replayed"
    code, err = report_command(seeded, monkeypatch, capsys, "--out", str(replayed), *replay(seeded))
    assert code == 0, err
    document = json.loads((replayed / "report.json").read_text())
    assert document["figures"] == {f.label: f.value for f in seeded.replayed.figures}
    assert document["figures"] != {f.label: f.value for f in seeded.report.figures}
    assert f"{seeded.figures.messages} messages read" in err
    code, err = report_command(seeded, monkeypatch, capsys, "--topic", seeded.topics[0])
    assert code == 2
    assert "give --replay too" in err
    # A supervisor reads the reports of their own agency only (the route's test reads one).
    supervisor = local_token(seeded.settings, Role.SUPERVISOR, agency="CD-GOM", sub="sup-1")
    code, err = report_command(
        seeded, monkeypatch, capsys, "--out", str(out), "--agency", "CD-BKV", token=supervisor
    )
    assert code == 2
    assert "read_reports is held only within CD-GOM" in err
    partner = local_token(seeded.settings, Role.PARTNER, agency="SCH-GOMA", sub="school")
    code, err = report_command(seeded, monkeypatch, capsys, "--out", str(out), token=partner)
    assert code == 2
    assert "does not hold read_reports" in err
    code, err = report_command(seeded, monkeypatch, capsys, "--threshold", "3")
    assert code == 2
    assert "no count under 5" in err


def report_command(seeded, monkeypatch, capsys, *arguments, token=None) -> tuple[int, str]:
    """``homeward report`` from another folder, with the platform's settings only."""
    for key, value in platform_env(seeded.settings).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("HOMEWARD_REPORT_REFERENCE_FILE", str(seeded.reference))
    monkeypatch.chdir("/")
    auditor = local_token(seeded.settings, Role.AUDITOR, agency="UN-AUDIT", sub="au-1")
    capsys.readouterr()
    try:
        period = ["--from", "2025-01", "--to", "2026-12"]
        code = main(["report", *period, "--token", token or auditor, *arguments])
    except SystemExit as exit:  # what the parser refuses
        code = int(str(exit.code))
    return code, capsys.readouterr().err


def replay(seeded: Seeded) -> list[str]:
    """``--replay`` of this test's copy of the topics, read as the administrator."""
    topics = [part for topic in seeded.topics for part in ("--topic", topic)]
    return ["--replay", *topics, "--as", ADMIN]


def test_the_html_report_renders_in_chromium_and_fetches_nothing(seeded, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1000, "height": 800})
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.set_content(as_html(seeded.report))
    page.screenshot(path=screenshot_path("programme-report"), full_page=True)
    assert requested == []
    assert page.locator("svg").count() == 3
    assert page.locator("footer").inner_text().count("<5") >= 1
    headings = page.locator("h2").all_inner_texts()
    assert "Releases by age at release" in headings
    # Every chart drawn with a size: rendered, not an empty box.
    for box in (page.locator("figure svg").nth(n).bounding_box() for n in range(3)):
        assert box is not None
        assert box["width"] > 200
        assert box["height"] > 100
    page.close()


# Free text of the synthetic cases that must never be at rest in the projection's store.
NEVER_AT_REST = (
    "Synthetic Child",
    "registration point",
    "a village near the road",
    "a local self-defence group",
    "liaison",
    "the centre's staff",
    "asked the caseworker for help",
)


def test_the_live_projection_keeps_counts_and_sealed_profiles_only(seeded):
    database = seeded.runtime.database
    # Outside any transaction: a writing one holds the lock a checkpoint needs.
    with closing(sqlite3.connect(seeded.settings.data_dir / "intake.sqlite3")) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    # Intake's own store, where its live consumer kept the counts.
    files = list(seeded.settings.data_dir.glob("intake.sqlite3*"))
    stored = b"".join(path.read_bytes() for path in files)
    assert b"statistics_cells" in stored  # the right file
    for text in NEVER_AT_REST + tuple(PLACES["CD-GOM"]):
        assert text.encode() not in stored, text
    # A case's profile opens with its key only; an erased case has none.
    with database.transaction() as tx:
        profiles = dict(tx.fetchall("SELECT case_id, sealed_profile FROM statistics_case_profiles"))
    assert {profiles[str(case)] for case in seeded.programme.erased} == {"erased"}
    assert len(profiles) == CASES


def test_supervisors_auditors_and_programme_managers_read_reports_partners_never(seeded):
    tokens = Tokens(seeded.settings)
    params = {"from": WHOLE_PERIOD.first_month, "to": WHOLE_PERIOD.last_month}
    client = TestClient(create_app(seeded.runtime))
    auditor = tokens.headers(Role.AUDITOR, agency="UN-AUDIT", sub="au-1")
    # The counts intake keeps, as they are: no replay while the caller waits.
    started = time.monotonic()
    whole = client.get("/reports", params=params, headers=auditor)
    print(f"GET /reports, {WHOLE_PERIOD}: {time.monotonic() - started:.3f} s")
    expected = json.loads(as_json(seeded.report))
    assert whole.json()["tables"] == expected["tables"]
    assert whole.json()["figures"] == expected["figures"]
    supervisor = tokens.headers(Role.SUPERVISOR, agency="CD-GOM", sub="sup-1")
    answer = client.get("/reports", params=params, headers=supervisor)
    assert answer.status_code == 200, answer.text
    assert answer.json()["scope"]["agency"] == "CD-GOM"
    other = client.get("/reports", params={**params, "agency": "CD-BKV"}, headers=supervisor)
    assert other.status_code == 404
    html = client.get("/reports", params={**params, "format": "html"}, headers=auditor)
    assert html.headers["content-type"].startswith("text/html")
    table = client.get(
        "/reports", params={**params, "format": "csv", "table": "visits"}, headers=auditor
    )
    assert table.text.splitlines()[0] == ",female,male,total"
    lower = client.get("/reports", params={**params, "threshold": 3}, headers=auditor)
    assert lower.status_code == 422
    partner = tokens.headers(Role.PARTNER, agency="SCH-GOMA", sub="school")
    assert client.get("/reports", params=params, headers=partner).status_code == 403
    caseworker = tokens.headers(Role.CASEWORKER, agency="CD-GOM", sub="cw-1")
    assert client.get("/reports", params=params, headers=caseworker).status_code == 403
    manager = tokens.headers(Role.PROGRAMME_MANAGER, agency="UN-PM", sub="pm-1")
    across = client.get("/reports", params={**params, "agency": "CD-BKV"}, headers=manager)
    assert across.status_code == 200
    assert across.json()["scope"]["agency"] == "CD-BKV"
    assert client.get("/cases", headers=manager).status_code == 403  # never a case


def readme_section() -> str:
    return README.read_text().split("\n## Reports\n", 1)[1].split("\n## ", 1)[0]


def test_the_readmes_command_prints_what_the_readme_shows(seeded, tmp_path):
    section = readme_section()
    command = section.split("```sh\n", 1)[1].split("```", 1)[0]
    shown = section.split("prints the files it wrote", 1)[1].split("```\n", 1)[1]
    # The README's command as written, reading the counts intake kept from this test's copy
    # of the topics (in the platform's data folder).
    printed = run_readme_command(
        command,
        {
            **platform_env(seeded.settings),
            "HOMEWARD_REPORT_REFERENCE_FILE": str(seeded.reference),
            "MPLCONFIGDIR": str(tmp_path / "matplotlib"),
        },
        tmp_path,
    )
    assert printed.splitlines() == shown.split("```", 1)[0].splitlines()
    written = json.loads((tmp_path / "report" / "report.json").read_text())
    assert written["figures"] == {f.label: f.value for f in seeded.report.figures}


def test_the_readmes_figures_and_chart_are_the_seeded_programmes(seeded):
    section = readme_section()
    assert len(seeded.programme.messages) == 24_974
    assert f"2,000 cases ({len(seeded.programme.messages):,} messages)" in section
    programme = f"({len(seeded.programme.messages):,} messages) on the broker, "
    erased = f"{len(seeded.programme.erased)} erased, {seeded.figures.forged} forged messages"
    assert programme + erased in README.read_text()
    for figure in seeded.report.figures:
        assert f"| {figure.label} | {figure.value} |" in section
    drawn = str(releases_by_month_chart(seeded.report))
    if os.environ.get("HOMEWARD_UPDATE_README_CHART"):  # after a change to the chart
        README_CHART.parent.mkdir(parents=True, exist_ok=True)
        README_CHART.write_text(drawn)
    assert f"]({README_CHART.relative_to(REPO_ROOT)})" in section
    assert README_CHART.read_text() == drawn


def test_stage_counts_are_suppressed_for_whoever_may_not_list_the_cases(seeded, tmp_path):
    runtime = build_runtime(seeded.settings, sqlite_store(tmp_path))
    keys = seeded.case_keys()
    gom = [
        case_id
        for case_id, case in seeded.programme.cases.items()
        if case_id not in seeded.programme.erased
        and next(e for _s, c, e in seeded.programme.events if c == case_id).registering_agency
        == "CD-GOM"
    ][:9]
    # Nine children registered, two of them handed over since (as the consumer gives them).
    handovers = [
        message
        for _service, message in seeded.programme.messages
        if message.case_id in gom and message.type.endswith("HandedOver.v2")
    ][:2]
    chosen = [
        message
        for _service, message in seeded.programme.messages
        if message.case_id in gom and message.type.endswith("ChildRegistered.v2")
    ] + handovers
    projections = runtime.application.projections
    with projections.database.transaction() as tx:
        for message in chosen:
            opened = open_personal_fields(message.data, message.case_id, keys, "test")
            projections.apply(message.model_copy(update={"data": opened}), tx)
    tokens = Tokens(seeded.settings)
    try:
        client = TestClient(create_app(runtime))
        params = {"agency": "CD-GOM"}
        caseworker = tokens.headers(Role.CASEWORKER, agency="CD-GOM", sub="cw-1")
        own = client.get("/statistics/stages", params=params, headers=caseworker).json()
        assert own["stages"]["registered"] == 7
        assert own["stages"]["handed_over"] == 2
        auditor = tokens.headers(Role.AUDITOR, agency="UN-AUDIT", sub="au-1")
        counted = client.get("/statistics/stages", params=params, headers=auditor).json()
        assert counted["stages"]["handed_over"] == "<5"
        # The 7 is hidden too: beside the total, 9, it would give the 2 away.
        assert counted["stages"]["registered"] == "x"
        assert counted["total"] == 9
    finally:
        runtime.application.close()
