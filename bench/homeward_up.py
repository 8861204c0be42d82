"""The running platform as a newcomer starts it (`homeward up`), for the benchmarks that load
it from outside: on ports of its own, in a temporary folder, with SQLite stores or with a
private PostgreSQL cluster (``deploy/postgres/cluster``) of its own."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2 as httpx

from shared.supervision import children_of

REPO = Path(__file__).resolve().parent.parent
POSTGRES_SCRIPT = REPO / "deploy" / "postgres" / "cluster"
SERVICES = ("intake", "referral", "followup")
STORES = ("sqlite", "postgres")


@contextmanager
def postgres_cluster(folder: Path, port: int) -> Iterator[dict[str, str]]:
    """A private cluster with one database per service and the keyring; the settings that
    put every store of the platform in it."""
    databases = {service: f"homeward_{service}" for service in (*SERVICES, "keyring")}
    env = os.environ | {
        "HOMEWARD_PG_DIR": str(folder),
        "HOMEWARD_PG_PORT": str(port),
        "HOMEWARD_PG_DATABASES": " ".join(databases.values()),
    }
    subprocess.run([str(POSTGRES_SCRIPT), "start"], env=env, check=True, timeout=900)
    try:
        yield {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_HOST": "127.0.0.1",
            "POSTGRES_PORT": str(port),
            "POSTGRES_USER": "postgres",
            "POSTGRES_PASSWORD": "",
            **{f"{name.upper()}_POSTGRES_DBNAME": db for name, db in databases.items()},
        }
    finally:
        subprocess.run([str(POSTGRES_SCRIPT), "stop"], env=env, check=False, timeout=120)


class Platform:
    """`homeward up` on ``ports`` (intake, referral, followup, forms) and ``broker_port``."""

    def __init__(
        self, data_dir: Path, ports: tuple[int, int, int, int], broker_port: int, store: dict
    ) -> None:
        self.data_dir = data_dir
        self.ports = dict(zip((*SERVICES, "web"), ports, strict=True))
        self.broker_port = broker_port
        kept = {k: v for k, v in os.environ.items() if not k.startswith("HOMEWARD_")}
        self.env = (
            kept
            | store
            | {
                "HOMEWARD_DATA_DIR": str(data_dir),
                "HOMEWARD_LOCAL_BROKER_PORT": str(broker_port),
                **{f"HOMEWARD_{name.upper()}_PORT": str(port) for name, port in self.ports.items()},
            }
        )
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def start(self) -> None:
        log = self.data_dir / "up.log"
        with log.open("wb") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "shared.cli", "up"],
                env=self.env,
                stdout=sink,
                stderr=sink,
                cwd=REPO,
            )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"homeward up exited: see {log}")
            try:
                if all(
                    httpx.get(f"{self.url(s)}/healthz", timeout=1).status_code == 200
                    for s in SERVICES
                ):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise SystemExit(f"the platform did not come up in 180 s: see {log}")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def peak_rss_mib(self) -> dict[str, float]:
        """Each process `up` started (the services' APIs and workers), by its command: the
        most memory it has held (VmHWM)."""
        assert self.process is not None
        peaks = {}
        for pid, command in children_of(self.process.pid).items():
            if " serve " not in command and " work " not in command:
                continue
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            name = " ".join(command.split("shared.cli ", 1)[1].split()[:2])
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    peaks[name] = round(int(line.split()[1]) / 1024, 1)
        return peaks


@contextmanager
def running_platform(
    folder: Path, store: str, ports: tuple[int, int, int, int], broker_port: int, pg_port: int
) -> Iterator[Platform]:
    if store == "postgres":
        folder.chmod(0o711)  # the server runs as the postgres user, who must reach its folder
        with postgres_cluster(folder / "postgres", pg_port) as settings:
            yield from _up(folder, settings, ports, broker_port)
    else:
        yield from _up(folder, {}, ports, broker_port)


def _up(
    folder: Path, store: dict, ports: tuple[int, int, int, int], broker_port: int
) -> Iterator[Platform]:
    data_dir = folder / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    platform = Platform(data_dir, ports, broker_port, store)
    platform.start()
    try:
        yield platform
    finally:
        platform.stop()
