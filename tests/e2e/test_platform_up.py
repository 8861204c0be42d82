"""`homeward up` (what `make run` runs) brings up a broker of its own and the three services,
an event crosses from intake to the other services through Kafka, and Ctrl-C stops it all."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx

from shared.access import Grant, Role
from shared.settings import REPO_ROOT
from tests.partner import read_messages, register_partner
from tests.processes import printed_by, up_env
from tests.samples import registration
from tests.signin import admin_headers, local_settings, local_token, staff_headers

PORTS = {"intake": 18001, "referral": 18002, "followup": 18003, "web": 18004}
DEFAULT_PORTS = {"intake": 8001, "referral": 8002, "followup": 8003, "web": 8004}
README = REPO_ROOT / "README.md"
BROKER_PORT = 19392


def wait_for(condition, timeout: float, what: str, platform: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        assert platform.poll() is None, f"`homeward up` exited while waiting for {what}"
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def readme_commands(after: str, env: dict[str, str]) -> str:
    """Run the README's first ``sh`` block after the words ``after`` with bash, against the
    test's ports, and return what it printed."""
    block = README.read_text().split(after, 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    for service, port in PORTS.items():
        block = block.replace(f"localhost:{DEFAULT_PORTS[service]}", f"localhost:{port}")
    return printed_by(["bash", "-euo", "pipefail", "-c", block], env)


def test_up_runs_the_platform_and_stops_cleanly(tmp_path: Path):
    env = up_env(tmp_path, PORTS, BROKER_PORT)
    output = tmp_path / "up.log"
    with output.open("wb") as sink:
        platform = subprocess.Popen(
            [sys.executable, "-m", "shared.cli", "up"], env=env, stdout=sink, stderr=sink
        )
    try:
        for port in PORTS.values():
            wait_for(lambda port=port: healthy(port), 90, f"service on port {port}", platform)
        printed = output.read_text()
        assert f"intake    http://127.0.0.1:{PORTS['intake']}" in printed
        # The forms, and how to sign in to them on this machine (README, "Forms in the browser").
        forms = f"http://127.0.0.1:{PORTS['web']}"
        assert f"forms     {forms}  (choose a demo user at its local sign-in)" in printed
        assert (
            "/local-issuer/authorize"
            in httpx.get(f"{forms}/sign-in/start", timeout=10).headers["location"]
        )
        assert f"127.0.0.1:{BROKER_PORT}" in printed

        intake, referral = (f"http://127.0.0.1:{PORTS[name]}" for name in ("intake", "referral"))
        # Tokens from the local signer `up` made in the data folder.
        signer = local_settings(tmp_path)
        staff, admin = staff_headers(signer), admin_headers(signer)
        assert httpx.get(f"{intake}/healthz", timeout=5).json() == {"status": "up"}
        assert httpx.get(f"{intake}/healthz/details", timeout=5).status_code == 401
        details = httpx.get(f"{intake}/healthz/details", headers=admin, timeout=5).json()
        assert details["database"] == details["kafka"] == "ok"
        # A partner to refer to in the forms, registered by `up` with a key pair of its own.
        wait_for(
            lambda: "demo partner SCH-GOMA" in output.read_text(), 60, "the demo partner", platform
        )
        demo = httpx.get(f"{referral}/partners/SCH-GOMA", headers=admin, timeout=5).json()
        assert demo["services"] == ["education", "vocational_training"]
        demo_key = tmp_path / "demo-partner" / "SCH-GOMA" / "homeward-partner.key"
        assert demo_key.stat().st_mode & 0o777 == 0o600
        created = httpx.post(f"{intake}/cases", json=registration(), headers=staff, timeout=10)
        assert created.status_code == 201
        case = created.json()
        consent = {
            "version": case["version"],
            "given_by": "child_consent",
            "purpose": "education",
            "recipients": ["SCH-01"],
            "categories": ["identity"],
            "given_on": "2026-11-20",
        }
        assert (
            httpx.post(
                f"{intake}/cases/{case['case_id']}/consents",
                json=consent,
                headers=staff,
                timeout=10,
            ).status_code
            == 201
        )
        with httpx.Client(base_url=referral, timeout=30) as referrals:
            school = register_partner(
                referrals,
                f"127.0.0.1:{BROKER_PORT}",
                "SCH-01",
                "education",
                tmp_path / "school",
                name="School",
                kind="school",
                headers=admin,
            )
        referral_request = {
            "case_id": case["case_id"],
            "agency": "SCH-01",
            "service": "education",
            "purpose": "education",
            "categories": ["identity"],
        }
        # The referral service learns the consent from Kafka: refused until it has seen it.
        wait_for(
            lambda: (
                httpx.post(
                    f"{referral}/referrals", json=referral_request, headers=staff, timeout=10
                ).status_code
                == 201
            ),
            60,
            "the referral service to see the consent",
            platform,
        )
        # The partner reads it with the credentials its registration gave, on the broker
        # `homeward up` runs with sign-in and ACLs.
        (received,) = read_messages(
            school.kafka_python(), "homeward.partner.SCH-01.referrals", key=case["case_id"]
        )
        assert json.loads(received.value)["type"] == "org.homeward.partner.ReferralReceived.v1"
        # An auditor's account of the case, from Kafka and the keyring alone, with a token
        # that carries every grant.
        auditor = local_token(
            signer, Role.AUDITOR, agency="UN-AUDIT", sub="au-0001", grants=frozenset(Grant)
        )
        replayed = subprocess.run(
            [sys.executable, "-m", "shared.cli", "audit", "case", case["case_id"]],
            env={**env, "HOMEWARD_AUDIT_TOKEN": auditor},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert replayed.returncode == 0, replayed.stderr
        lines = [json.loads(line) for line in replayed.stdout.splitlines()]
        history = [entry for entry in lines if ".intake." in entry.get("type", "")]
        assert [entry["type"].split(".")[3] for entry in history][:3] == [
            "ChildRegistered",
            "HandedOver",
            "ConsentGiven",
        ]
        assert history[0]["data"]["name"] == registration()["name"]
        assert (tmp_path / "intake.sqlite3").exists()
        docs = httpx.get(f"http://127.0.0.1:{PORTS['intake']}/openapi.json", timeout=5).json()
        assert "/cases" in docs["paths"]

        # The README's own commands, as a newcomer pastes them (only the ports differ).
        shell = {**env, "PATH": f"{Path(sys.executable).parent}:{env['PATH']}"}
        registered = json.loads(readme_commands("Register a child", shell))
        assert "case_id" in registered, registered
        assert registered["registering_agency"] == "CD-KIN"
        assert registered["caseworker"] == "cw-0412"
        retried = json.loads(readme_commands("Register a child", shell))  # the same key
        assert (retried["case_id"], retried["version"]) == (registered["case_id"], 2)
        shell["CASE_ID"] = registered["case_id"]
        printed, answers = readme_commands("Intake keeps every service's log", shell), []
        while printed.strip():  # curl -s prints each answer with no newline after it
            answer, end = json.JSONDecoder().raw_decode(printed.strip())
            answers.append(answer)
            printed = printed.strip()[end:]
        assert [type(answer) for answer in answers] == [list, list, list], answers
    finally:
        platform.send_signal(signal.SIGINT)
        exit_code = platform.wait(timeout=60)
    assert exit_code == 0, output.read_text()[-3000:]
    assert "Homeward stopped." in output.read_text()
    assert not healthy(PORTS["intake"])
    broker_processes = subprocess.run(
        ["pgrep", "-f", str(tmp_path / "kafka")], capture_output=True, text=True, check=False
    )
    assert broker_processes.stdout.strip() == "", "the broker `up` started is still running"
