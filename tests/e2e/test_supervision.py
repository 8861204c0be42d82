"""`homeward up` keeps the platform alive and leaves nothing behind: a killed service or
broker comes back, a second `up` on the same data directory is refused, and killing `up`
itself (SIGKILL, no chance to clean up) stops every process it started."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from shared.supervision import children_of, live_pid
from tests.e2e.test_platform_up import healthy, wait_for
from tests.processes import up_env

PORTS = {"intake": 18101, "referral": 18102, "followup": 18103, "web": 18104}
BROKER_PORT = 19492


def service_pid(up: int, service: str, command: str = "serve") -> int | None:
    found = [pid for pid, line in children_of(up).items() if f"{command} {service}" in line]
    return found[0] if found else None


def gone(pid: int) -> bool:
    return not Path(f"/proc/{pid}").exists() or (
        Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    )


def test_up_restarts_what_dies_refuses_a_twin_and_leaves_no_orphan(tmp_path: Path):
    env = up_env(tmp_path, PORTS, BROKER_PORT)
    output = tmp_path / "up.log"
    started = time.monotonic()
    started_by_up: list[int] = []
    with output.open("wb") as sink:
        up = subprocess.Popen(
            [sys.executable, "-m", "shared.cli", "up"], env=env, stdout=sink, stderr=sink
        )
    try:
        for port in PORTS.values():
            wait_for(lambda port=port: healthy(port), 90, f"service on port {port}", up)

        twin = subprocess.run(
            [sys.executable, "-m", "shared.cli", "up"],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert twin.returncode == 1
        assert f"another `homeward up` (pid {up.pid}) is running on {tmp_path}" in twin.stderr
        assert healthy(PORTS["intake"])  # the twin touched nothing

        crashed = service_pid(up.pid, "intake")
        assert crashed is not None
        os.kill(crashed, signal.SIGKILL)
        wait_for(
            lambda: (
                service_pid(up.pid, "intake") not in (None, crashed) and healthy(PORTS["intake"])
            ),
            60,
            "intake started again",
            up,
        )
        assert "intake exited with code -9; starting it again in 1 s" in output.read_text()
        worker = service_pid(up.pid, "intake", command="work")
        assert worker is not None
        os.kill(worker, signal.SIGKILL)
        wait_for(
            lambda: service_pid(up.pid, "intake", command="work") not in (None, worker),
            60,
            "intake's worker started again",
            up,
        )
        assert "intake worker exited with code -9; starting it again in 1 s" in output.read_text()

        broker_pid = live_pid((tmp_path / "kafka" / "broker.pid").read_text())
        assert broker_pid is not None
        os.kill(broker_pid, signal.SIGKILL)
        wait_for(
            lambda: (
                live_pid((tmp_path / "kafka" / "broker.pid").read_text()) not in (None, broker_pid)
            ),
            90,
            "the broker started again",
            up,
        )
        assert "the Kafka broker stopped; starting it again" in output.read_text()

        started_by_up[:] = children_of(up.pid)
        # Three services' APIs and their three workers, the forms and the broker.
        assert len(started_by_up) == 8
        up.kill()  # no handler runs: only the kernel's parent-death signal can stop them
        up.wait()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(map(gone, started_by_up)):
            time.sleep(0.3)
        orphans = [pid for pid in started_by_up if not gone(pid)]
        assert orphans == [], f"still running after `up` was killed: {orphans}"
        print(
            f"\nsupervision: service and broker restarted, twin refused, "
            f"{len(started_by_up)} children stopped with their parent, "
            f"{time.monotonic() - started:.0f} s"
        )
    finally:
        if up.poll() is None:
            up.send_signal(signal.SIGINT)
            up.wait(timeout=60)
        for pid in started_by_up:  # what a failed run could leave behind
            if not gone(pid):
                os.kill(pid, signal.SIGKILL)
