"""An auditor's account of a case (`homeward audit case`, `GET /audit/cases/{id}`): a journey
across the three services on the real broker, the case API's answers recorded on the way, and
the account as of each of those moments, from another folder, as each token may read it."""

import csv
import inspect
import io
import json
import logging
import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po
from kafka import KafkaProducer

from services.intake.caseaudit import HTML_REPORT, Verification
from services.web.i18n import LOCALE_DIR
from shared.access import Grant, Role
from shared.cli import main
from shared.envelope import CloudEvent, MalformedMessage, format_sequence
from shared.kafka import ADMIN, kafka_connection, platform_topics, read_to_end
from shared.settings import REPO_ROOT, Settings
from tests.browser import screenshot_path
from tests.conftest import as_admin, platform_settings
from tests.processes import run_readme_command
from tests.running import (
    CaseInIntake,
    accepted_by_school,
    connected_partner,
    new_agency,
    running_services,
    wait_for,
)
from tests.samples import (
    FAMILY_TRACING_CONSENT,
    TRACING_STARTED,
    registration,
)
from tests.signin import Tokens, local_token, supervisor_headers

README = REPO_ROOT / "README.md"
ATTACKER_NAME = "<script>alert(1)</script>"
NEEDS = {
    "needs": ["health", "psychosocial"],
    "flags": ["separated"],
    "sexual_violence_survivor": True,
    "sexual_violence_details": "Held by a commander for eight months.",
    "assessed_on": "2026-10-04",
}


def store_env(folder: Path):
    """Each store where the platform's settings place it (``<data dir>/<name>.sqlite3``), so
    that the command finds them from the settings alone."""
    return lambda name: {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(folder / f"{name}.sqlite3"),
    }


def auditor(settings: Settings, *grants: Grant) -> str:
    return local_token(
        settings, Role.AUDITOR, agency="UN-AUDIT", sub="au-0001", grants=frozenset(grants)
    )


class Journey:
    """The case, the case API's answers at moments of its journey, and the platform."""

    def __init__(
        self,
        settings: Settings,
        case_id: str,
        moments: list[tuple[datetime, dict]],
        registered: tuple[datetime, datetime],
        agency: str,
    ):
        self.agency = agency
        self.settings = settings
        self.case_id = case_id
        self.moments = moments
        self.registered = registered  # a range around the registration


@pytest.fixture(scope="module")
def journey(kafka_broker, tmp_path_factory) -> Iterator[tuple[Journey, Any]]:
    folder = tmp_path_factory.mktemp("audit")
    settings = platform_settings(kafka_broker, folder)
    with running_services(settings, store_env(folder)) as (clock, intake, referral, followup, _):
        agency = new_agency(settings, intake, referral, followup)
        moments: list[tuple[datetime, dict]] = []

        def remember() -> None:
            # The stored events bear the time they were recorded at, not the services'
            # clock: the clock keeps to it here, so that "then" means one moment for both.
            clock.now = datetime.now(UTC)
            moments.append((clock.now, child.reload()))  # a caseworker's read, on the log

        clock.now = datetime.now(UTC)  # after the samples' days (October 2026)

        before = datetime.now(UTC)
        child = CaseInIntake.register(intake, registration(registering_agency=agency))
        registered = (before, datetime.now(UTC))
        child.step("corrections", name=ATTACKER_NAME, reason="as the child spells it")
        remember()
        child.step("interim-care", kind="interim_care_centre", carer="CTO", entered_on="2026-10-04")
        child.step("consents", **FAMILY_TRACING_CONSENT)
        child.step("needs-assessment", **NEEDS)
        child.step("tracing", **TRACING_STARTED)
        remember()
        child.safeguarded_return(settings)
        child.step("interim-care/end", left_on="2026-10-12", exit_reason="family_reunification")
        child.step("reunification", reunified_on="2026-10-12")
        wait_for(
            lambda: followup.get(f"/plans/{child.id}").status_code == 200, "the follow-up plan"
        )
        school = f"SCH-{agency.removeprefix('CD-')}"
        partner = connected_partner(referral, settings, school, "education", folder / school)
        try:
            made = accepted_by_school(referral, child, partner)
            wait_for(
                lambda: (
                    referral.get(f"/referrals/{made['referral_id']}").json()["state"] == "accepted"
                ),
                "the partner's answer",
            )
        finally:
            partner.close()
        remember()
        # Every message of the case, on every topic, read apart from the command.
        wait_for(lambda: len(accesses(settings, child.id)) >= len(moments), "the access log")
        yield Journey(settings, child.id, moments, registered, agency), intake


def every_message_of(settings: Settings, case_id: str) -> dict[str, CloudEvent]:
    found = {}
    for record in read_to_end(kafka_connection(settings, ADMIN), platform_topics()):
        try:
            message = CloudEvent.from_bytes(record.value)
        except MalformedMessage:
            continue
        if message.caseid == case_id:
            found[message.id] = message
    return found


def accesses(settings: Settings, case_id: str) -> list[CloudEvent]:
    messages = every_message_of(settings, case_id).values()
    return [m for m in messages if ".AccessRecorded." in m.type]


def platform_env(settings: Settings) -> dict[str, str]:
    """The settings a command run from anywhere needs to find the platform."""
    return {
        "HOMEWARD_DATA_DIR": str(settings.data_dir),
        "HOMEWARD_KAFKA_BOOTSTRAP": str(settings.kafka_bootstrap),
        "HOMEWARD_KAFKA_SECURITY_PROTOCOL": settings.kafka_security_protocol,
        "HOMEWARD_KAFKA_CREDENTIALS_DIR": str(settings.kafka_credentials_dir),
        "HOMEWARD_MASTER_KEY": settings.master_key.get_secret_value(),  # type: ignore[union-attr]
    }


def audit(
    journey: Journey, monkeypatch, capsys, *arguments: str, token: str | None = None
) -> tuple[int, str, str]:
    """`homeward audit case ...` from another folder, with only the platform's settings."""
    env = {
        **platform_env(journey.settings),
        "HOMEWARD_AUDIT_TOKEN": token or auditor(journey.settings, *Grant),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir("/")
    capsys.readouterr()
    handlers = list(logging.root.handlers)
    code = main(["audit", *arguments])
    logging.root.handlers = handlers
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def lines_of(printed: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in printed.splitlines()]


def entries_of(printed: str) -> list[dict[str, Any]]:
    """The timeline's entries, without each case's closing line (verification, state)."""
    return [line for line in lines_of(printed) if "type" in line]


def test_as_of_each_moment_the_case_is_what_the_case_api_answered(journey, monkeypatch, capsys):
    journey, _ = journey
    for moment, answered in journey.moments:
        code, out, err = audit(
            journey, monkeypatch, capsys, "case", journey.case_id, "--as-of", moment.isoformat()
        )
        assert code == 0, err
        state = lines_of(out)[-1]["state"]
        assert state == answered  # every field the API showed, as it showed it
        with capsys.disabled():
            print(f"as of {moment}: {err.strip()}")


def test_the_timeline_is_every_message_of_the_case_in_causal_order(journey, monkeypatch, capsys):
    journey, _ = journey
    began = time.perf_counter()
    code, out, err = audit(journey, monkeypatch, capsys, "case", journey.case_id)
    seconds = time.perf_counter() - began
    assert code == 0, err
    entries = entries_of(out)
    expected = every_message_of(journey.settings, journey.case_id)
    # Each signed by the service that published it, none missing: the account verifies.
    assert {entry["signature"] for entry in entries} == {"valid"}
    assert lines_of(out)[-1]["verification"]["verified"] is True
    assert "1 of 1 verified" in err
    assert sorted(entry["id"] for entry in entries) == sorted(expected)
    sources = {entry["source"] for entry in entries}
    assert sources >= {"/homeward/intake", "/homeward/referral", "/homeward/followup"}
    assert any(entry["type"].endswith("AccessRecorded.v1") for entry in entries)
    times = [entry["time"] for entry in entries]
    assert times == sorted(times)
    last: dict[str, int] = {}
    for entry in entries:
        assert entry["sequence"] > last.get(entry["subject"], 0)
        last[entry["subject"]] = entry["sequence"]
    referrals = [e for e in entries if e["type"].startswith("org.homeward.referral.")]
    assert referrals
    given = {e["consent_ids"][0] for e in entries if ".ConsentGiven." in e["type"]}
    assert referrals[0]["consent_ids"]
    assert set(referrals[0]["consent_ids"]) <= given  # made under consents on the record
    assert any(e["who"].get("approved_by") == "sup-07" for e in entries)
    with capsys.disabled():
        print(f"{len(entries)} entries from {len(platform_topics())} topics in {seconds:.2f} s")


def needs_assessed(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return next(e for e in entries if ".NeedsAssessed." in e["type"])["data"]


def test_what_each_token_may_read(journey, monkeypatch, capsys):
    journey, _ = journey
    settings = journey.settings
    _, everything, _ = audit(journey, monkeypatch, capsys, "case", journey.case_id)
    needs_version = next(
        e["sequence"] for e in entries_of(everything) if ".NeedsAssessed." in e["type"]
    )
    for grants, violence, name in (
        ((Grant.PERSONAL_DATA, Grant.SEXUAL_VIOLENCE), None, ATTACKER_NAME),
        ((Grant.PERSONAL_DATA,), "[restricted]", ATTACKER_NAME),
        ((), "[restricted]", "[personal]"),
    ):
        token = auditor(settings, *grants)
        code, out, err = audit(
            journey,
            monkeypatch,
            capsys,
            "case",
            journey.case_id,
            "--at-sequence",
            str(needs_version),
            token=token,
        )
        assert code == 0, err
        *entries, last = lines_of(out)
        data = needs_assessed(entries)
        if violence is None:
            assert data["sexual_violence"]["survivor"] is True
        else:
            assert data["sexual_violence"] == violence
        assert last["state"]["name"] == name
        if not grants:
            assert "Amani" not in out
            assert ATTACKER_NAME not in out
            assert "commander" not in out
    caseworker = local_token(settings, Role.CASEWORKER)
    code, _, err = audit(journey, monkeypatch, capsys, "case", journey.case_id, token=caseworker)
    assert code == 2
    assert "read_history" in err
    code, _, err = audit(journey, monkeypatch, capsys, "case", journey.case_id, token="forged")
    assert code == 2
    assert "malformed" in err


def test_an_unknown_case_is_an_error(journey, monkeypatch, capsys):
    journey, _ = journey
    code, out, err = audit(
        journey, monkeypatch, capsys, "case", journey.case_id, "--at-sequence", "999"
    )
    assert code == 1
    assert "no version 999" in err
    code, out, err = audit(journey, monkeypatch, capsys, "case", str(uuid.uuid4()))
    assert code == 1
    assert not out
    assert "No case" in err


def test_an_erased_case_reads_erased_whatever_the_grants(journey, monkeypatch, capsys):
    journey, intake = journey
    agency = journey.moments[0][1]["registering_agency"]
    erased = CaseInIntake.register(intake, registration(registering_agency=agency))
    erased.step("erasure", supervisor_headers(journey.settings, agency), reason="child_request")
    wait_for(
        lambda: any(
            ".CaseErased." in m.type for m in every_message_of(journey.settings, erased.id).values()
        ),
        "the erasure on Kafka",
    )
    code, out, err = audit(journey, monkeypatch, capsys, "case", erased.id)
    assert code == 0, err
    registered = next(e for e in entries_of(out) if ".ChildRegistered." in e["type"])
    assert registered["data"]["name"] == "[erased]"
    assert "Amani" not in out
    # As it was before its erasure was recorded: it reads as erased all the same, since
    # nothing personal of it can be opened any more (and it has no deadlines to compute).
    code, out, err = audit(journey, monkeypatch, capsys, "case", erased.id, "--at-sequence", "1")
    assert code == 0, err
    state = lines_of(out)[-1]["state"]
    assert (state["erased"], state["name"], state["deadlines"]) == (True, "[erased]", [])


def test_csv_and_html(journey, monkeypatch, capsys):
    journey, _ = journey
    _, jsonl, _ = audit(journey, monkeypatch, capsys, "case", journey.case_id)
    code, printed, err = audit(
        journey, monkeypatch, capsys, "case", journey.case_id, "--format", "csv"
    )
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(printed)))
    assert [row["id"] for row in rows] == [entry["id"] for entry in entries_of(jsonl)]
    moment = journey.moments[-1][0].isoformat()
    code, html, err = audit(
        journey, monkeypatch, capsys, "case", journey.case_id, "--as-of", moment, "--format", "html"
    )
    assert code == 0, err
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "Consent history" in html
    assert "interim_care" in html
    code, printed, err = audit(
        journey,
        monkeypatch,
        capsys,
        "cases",
        "--from",
        journey.registered[0].isoformat(),
        "--to",
        journey.registered[1].isoformat(),
    )
    assert code == 0, err
    assert {entry["case_id"] for entry in lines_of(printed)} == {journey.case_id}


def test_the_route_answers_what_the_command_prints(journey, monkeypatch, capsys):
    journey, intake = journey
    moment = journey.moments[1][0].isoformat()
    _, printed, _ = audit(journey, monkeypatch, capsys, "case", journey.case_id, "--as-of", moment)
    headers = Tokens(journey.settings).headers(
        Role.AUDITOR, "UN-AUDIT", "au-0001", frozenset(Grant)
    )
    answer = intake.get(
        f"/audit/cases/{journey.case_id}", params={"as_of": moment}, headers=headers
    )
    assert answer.status_code == 200, answer.text
    assert answer.text == printed
    report = intake.get(
        f"/audit/cases/{journey.case_id}", params={"format": "html"}, headers=headers
    )
    assert report.headers["content-type"].startswith("text/html")
    assert "<h2>Deadlines as of" in report.text  # now, when no moment is given
    missing = intake.get(f"/audit/cases/{uuid.uuid4()}", headers=headers)
    assert missing.status_code == 404
    refused = intake.get(f"/audit/cases/{journey.case_id}")  # the caseworker
    assert refused.status_code == 403
    # The auditor's own reading is on the access log, like any other.
    wait_for(
        lambda: any(
            access["accessed_by"] == "au-0001" and access["action"] == "read_history"
            for access in intake.get(
                "/audit/access", params={"case_id": journey.case_id}, headers=headers
            ).json()
        ),
        "the auditor's read on the access log",
    )


def test_the_readmes_command_prints_what_the_readme_shows(journey, tmp_path):
    journey, _ = journey
    section = README.read_text().split("## Auditing a case", 1)[1]
    command = section.split("```sh\n", 1)[1].split("```", 1)[0]
    shown = section.split("prints (", 1)[1].split("```\n", 1)[1].split("```", 1)[0]
    printed_text = run_readme_command(
        command, {**platform_env(journey.settings), "CASE_ID": journey.case_id}, tmp_path
    )
    print(printed_text)
    printed, expected = lines_of(printed_text), lines_of(shown)
    assert len(printed) == len(expected)
    for line, trimmed in zip(printed, expected, strict=True):
        assert line.keys() == trimmed.keys()
        assert line.get("type") == trimmed.get("type")
        for part in ("data", "state"):
            assert trimmed.get(part, {}).keys() <= line.get(part, {}).keys()


def test_the_html_report_renders_in_a_browser_and_fetches_nothing(
    journey, browser, capsys, monkeypatch
):
    journey, _ = journey
    code, html, err = audit(
        journey, monkeypatch, capsys, "case", journey.case_id, "--format", "html"
    )
    assert code == 0, err
    page = browser.new_page(viewport={"width": 360, "height": 640})
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.set_content(html)
    page.screenshot(path=screenshot_path("audit-case-report"), full_page=True)
    assert requested == []  # self-contained: no font, script or style from elsewhere
    headings = page.locator("h1, h2").all_inner_texts()
    assert any("Consent history" in heading for heading in headings)
    assert page.locator("table tr").count() > len(journey.moments)
    # In the auditor's language: Arabic reads right to left; the recorded values stay as
    # recorded (the JSON of each entry left to right).
    code, html, err = audit(
        journey, monkeypatch, capsys, "case", journey.case_id, "--format", "html", "--lang", "ar"
    )
    assert code == 0, err
    page.set_content(html)
    page.screenshot(path=screenshot_path("audit-case-report-ar"), full_page=True)
    assert page.evaluate("getComputedStyle(document.body).direction") == "rtl"
    assert "سجل الموافقات" in page.locator("h2").all_inner_texts()
    assert page.evaluate("getComputedStyle(document.querySelector('pre')).direction") == "ltr"
    page.close()


@pytest.mark.parametrize("language", ["fr", "ar"])
def test_every_heading_of_the_html_report_is_in_each_language(language):
    said = re.findall(r'_\("([^"]+)"\)', HTML_REPORT + inspect.getsource(Verification.summary))
    assert len(said) > 20
    with (LOCALE_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as po_file:
        translated = {message.id for message in read_po(po_file) if message.string}
    assert [msgid for msgid in said if msgid not in translated] == []


def test_messages_forged_on_a_topic_are_named_and_the_command_fails(journey, monkeypatch, capsys):
    """Someone who may write to the intake topic, without the keyring, adds to a case's
    history: a real message with its data changed, and one made up. Neither verifies."""
    journey, intake = journey
    child = CaseInIntake.register(intake, registration(registering_agency=journey.agency))
    published = wait_for(
        lambda: every_message_of(journey.settings, child.id) or None, "the registration on Kafka"
    )
    code, out, err = audit(journey, monkeypatch, capsys, "case", child.id)
    assert code == 0, err
    (registered,) = (m for m in published.values() if ".ChildRegistered." in m.type)
    altered = CloudEvent.model_validate(
        registered.model_dump(exclude_none=True)
        | {"id": str(uuid.uuid4()), "sequence": format_sequence(2)}
        | {"data": registered.data | {"case_number": "CD-0000-2026-99999"}}
    )
    made_up = CloudEvent.model_validate(
        registered.model_dump(exclude_none=True, exclude={"signature"})
        | {"id": str(uuid.uuid4()), "sequence": format_sequence(4)}
    )
    producer = KafkaProducer(**as_admin(journey.settings))
    for forged in (altered, made_up):
        producer.send("homeward.intake.events", value=forged.to_bytes(), key=child.id.encode()).get(
            timeout=10
        )
    producer.close()
    code, out, err = audit(journey, monkeypatch, capsys, "case", child.id)
    assert code == 3
    verdicts = {entry["id"]: entry["signature"] for entry in entries_of(out)}
    assert verdicts[registered.id] == "valid"
    assert (verdicts[altered.id], verdicts[made_up.id]) == ("invalid", "unsigned")
    verification = lines_of(out)[-1]["verification"]
    assert verification["invalid"] == [altered.id]
    assert verification["missing"] == {child.id: [3]}  # between the forged 2 and 4
    assert "NOT verified" in err
