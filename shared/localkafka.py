"""A real single-node Apache Kafka broker (KRaft) on 127.0.0.1, for development and tests.

The jars come from Maven Central through ``deploy/kafka/pom.xml`` into a git-ignored cache and
are reused afterwards. Every failure that a newcomer can meet (no Java, no Maven, port taken,
broker exits) ends with a message that says what to do, never with a hang.

The broker is secured as a production broker is: clients sign in with SASL/SCRAM-SHA-512 and
the ACL authoriser allows only what an ACL grants. Its own password and the admin's are made
once, into files readable by their owner only under ``home/credentials``, and given to the
storage tool at format time in an argument file of the same kind, never on a command line
that other users could read.
"""

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

from shared.kafka import (
    ADMIN,
    KafkaConnection,
    ensure_password_file,
    password_file,
    read_password,
)
from shared.settings import REPO_ROOT
from shared.supervision import die_with_parent, live_pid, pid_file_text

DEPLOY_DIR = REPO_ROOT / "deploy" / "kafka"
JAR_CACHE = REPO_ROOT / ".cache" / "kafka-jars"
READY_TIMEOUT_SECONDS = 90.0
BROKER_PRINCIPAL = "broker"  # the broker signing in to itself and to its controller
SASL_MECHANISM = "SCRAM-SHA-512"


class BrokerError(RuntimeError):
    """The local broker could not be fetched, started or stopped; the message says why."""


def _require(tool: str, hint: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise BrokerError(f"`{tool}` is not on PATH: {hint}")
    return path


def fetch_jars(cache: Path = JAR_CACHE) -> Path:
    """Download the broker's jars once; later calls reuse the cache."""
    marker = cache / ".complete"
    pom = DEPLOY_DIR / "pom.xml"
    if marker.exists() and marker.stat().st_mtime >= pom.stat().st_mtime:
        return cache
    mvn = _require("mvn", "install Maven (Debian package `maven`) to fetch the Kafka jars.")
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    result = subprocess.run(
        [
            mvn,
            "-B",
            "-q",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={cache}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        shutil.rmtree(cache, ignore_errors=True)
        tail = (result.stdout + result.stderr).strip().splitlines()[-15:]
        raise BrokerError(
            "Maven could not fetch the Kafka jars (is Maven Central reachable?):\n"
            + "\n".join(tail)
        )
    marker.touch()
    return cache


def port_is_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


@dataclass
class LocalBroker:
    """One KRaft node whose data, config, log and pid file live under ``home``: a broker of
    its own, or one node of a :class:`LocalCluster`."""

    home: Path
    port: int = 9092
    node_id: int = 1
    # Every voter of the controller quorum, ``id@host:port``; alone, the node is its own.
    voters: str | None = None
    replication: int = 1  # copies of each partition: the cluster's size
    min_insync: int = 1  # copies that must have a write before it is acknowledged
    credentials: Path | None = None  # shared by the nodes of a cluster
    cluster_id: str | None = None  # the same for every node of a cluster

    @property
    def controller_port(self) -> int:
        return self.port + 1

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.home / "broker.log"

    @property
    def data_dir(self) -> Path:
        """Where the topics' log segments are stored, as plain files."""
        return self.home / "data"

    @property
    def credentials_dir(self) -> Path:
        """The principals' password files: what HOMEWARD_KAFKA_CREDENTIALS_DIR names locally."""
        return self.credentials or self.home / "credentials"

    def connection(self, principal: str) -> KafkaConnection:
        return KafkaConnection(
            bootstrap=self.bootstrap,
            principal=principal,
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism=SASL_MECHANISM,
            credentials_dir=self.credentials_dir,
        )

    @property
    def admin(self) -> KafkaConnection:
        """The super user that makes topics, principals and ACLs."""
        return self.connection(ADMIN)

    @property
    def _pid_file(self) -> Path:
        return self.home / "broker.pid"

    def pid(self) -> int | None:
        """The broker's pid while that very process runs (not a zombie, not a reused pid)."""
        try:
            return live_pid(self._pid_file.read_text())
        except FileNotFoundError:
            return None

    def status(self) -> str:
        pid = self.pid()
        if pid is None:
            return f"stopped (home {self.home})"
        state = "accepting connections" if port_is_open(self.port) else "starting"
        return f"running, pid {pid}, {state} on {self.bootstrap} (log {self.log_file})"

    @property
    def _supervisor_file(self) -> Path:
        return self.home / "supervisor.pid"

    def _left_by_a_dead_supervisor(self) -> bool:
        """Whether the running broker was started for a process that has died since: it is
        stopping on its parent-death signal, and must not be taken for a live one."""
        try:
            return live_pid(self._supervisor_file.read_text()) is None
        except FileNotFoundError:
            return False

    def start(self, supervisor: int | None = None) -> None:
        """Start the broker and wait until it accepts connections. Idempotent. Started for a
        ``supervisor`` process, the broker stops when that process dies."""
        if self.pid() is not None:
            if not self._left_by_a_dead_supervisor():
                self._wait_ready()
                return
            self.stop()
        java = _require("java", "install a Java runtime (17 or newer) to run the Kafka broker.")
        for port in (self.port, self.controller_port):
            if port_is_open(port):
                raise BrokerError(
                    f"port {port} on 127.0.0.1 is already taken by another program; stop it or "
                    "choose another port (HOMEWARD_LOCAL_BROKER_PORT)."
                )
        jars = fetch_jars()
        formatted = (self.data_dir / "meta.properties").exists()
        if formatted and not password_file(self.credentials_dir, ADMIN).exists():
            raise BrokerError(
                f"the broker's data in {self.data_dir} was made without sign-in (before SASL "
                f"and ACLs); delete {self.home} and start again."
            )
        self.home.mkdir(parents=True, exist_ok=True)
        for principal in (BROKER_PRINCIPAL, ADMIN):
            ensure_password_file(self.credentials_dir, principal)
        properties = self.home / "server.properties"
        _write_private(
            properties,
            (DEPLOY_DIR / "server.properties")
            .read_text()
            .format(
                port=self.port,
                controller_port=self.controller_port,
                node_id=self.node_id,
                voters=self.voters or f"{self.node_id}@127.0.0.1:{self.controller_port}",
                replication=self.replication,
                min_insync=self.min_insync,
                log_dirs=self.data_dir,
                broker_principal=BROKER_PRINCIPAL,
                broker_password=read_password(self.credentials_dir, BROKER_PRINCIPAL),
                admin_principal=ADMIN,
            ),
        )
        classpath = f"{jars}/*"
        if not formatted:
            self._run_storage_tool(java, classpath, properties)
        jvm_options = [
            "-Xmx512m",
            "-Xms256m",
            f"-Dlog4j2.configurationFile={DEPLOY_DIR / 'log4j2.properties'}",
            f"-Dhomeward.broker.log={self.log_file}",
        ]
        with open(self.home / "broker.out", "ab") as out:
            process = subprocess.Popen(
                [java, *jvm_options, "-cp", classpath, "kafka.Kafka", str(properties)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=None if supervisor is None else die_with_parent(supervisor),
            )
        self._pid_file.write_text(pid_file_text(process.pid))
        if supervisor is None:
            self._supervisor_file.unlink(missing_ok=True)
        else:
            self._supervisor_file.write_text(pid_file_text(supervisor))
        self._wait_ready(process)

    def _run_storage_tool(self, java: str, classpath: str, properties: Path) -> None:
        """Format the storage with the SCRAM credentials the broker and the admin sign in
        with: the first sign-in needs a credential that exists before the broker runs."""
        cluster_id = self.cluster_id or new_cluster_id(java, classpath)
        scram = [
            f"--add-scram {SASL_MECHANISM}=[name={principal},"
            f"password={read_password(self.credentials_dir, principal)}]"
            for principal in (BROKER_PRINCIPAL, ADMIN)
        ]
        # `java @file` reads the arguments from the file: the passwords stay off the command
        # line, which every user of the machine can read in the process list.
        arguments = self.home / "format.args"
        _write_private(
            arguments,
            "\n".join(
                [
                    f'-cp "{classpath}" kafka.tools.StorageTool format',
                    f'-t {cluster_id} -c "{properties}"',
                    *scram,
                ]
            ),
        )
        try:
            result = subprocess.run(
                [java, f"@{arguments}"],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        finally:
            arguments.unlink()
        if result.returncode != 0:
            raise BrokerError(f"formatting KRaft storage failed: {result.stderr.strip()}")

    def _wait_ready(self, process: subprocess.Popen[bytes] | None = None) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                self._pid_file.unlink(missing_ok=True)
                raise BrokerError(
                    f"the Kafka broker exited with code {process.returncode}; "
                    f"see {self.home / 'broker.out'} and {self.log_file}:\n{self._log_tail()}"
                )
            if port_is_open(self.port):
                return
            time.sleep(0.25)
        raise BrokerError(
            f"the Kafka broker did not accept connections on {self.bootstrap} within "
            f"{READY_TIMEOUT_SECONDS:.0f} s; see {self.log_file}:\n{self._log_tail()}"
        )

    def _log_tail(self, lines: int = 15) -> str:
        for candidate in (self.home / "broker.out", self.log_file):
            if candidate.exists() and candidate.stat().st_size:
                return "\n".join(candidate.read_text(errors="replace").splitlines()[-lines:])
        return "(no log output)"

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the broker gracefully (SIGTERM), killing it if it does not stop in time."""
        pid = self.pid()
        if pid is None:
            self._pid_file.unlink(missing_ok=True)
            return
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.pid() is not None:
            time.sleep(0.2)
        if self.pid() is not None:
            os.killpg(pid, signal.SIGKILL)
            self.pid()  # collects it, when it is our child
        self._pid_file.unlink(missing_ok=True)


def _write_private(path: Path, text: str) -> None:
    """Write a file that only its owner may read, even if it existed with wider rights."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)


def new_cluster_id(java: str, classpath: str) -> str:
    return subprocess.run(
        [java, "-cp", classpath, "kafka.tools.StorageTool", "random-uuid"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()


@dataclass
class LocalCluster:
    """Several KRaft nodes on loopback, each a broker and a controller voter, holding every
    partition ``size`` times and acknowledging a write once ``min_insync`` copies have it:
    one node can die without an acknowledged write being lost or writes stopping. Node *n*
    listens on ``port + 2(n-1)``, its controller on the port after."""

    home: Path
    port: int = 9092
    size: int = 3
    min_insync: int = 2

    @property
    def nodes(self) -> list[LocalBroker]:
        voters = ",".join(
            f"{n}@127.0.0.1:{self.port + 2 * (n - 1) + 1}" for n in range(1, self.size + 1)
        )
        cluster_id_file = self.home / "cluster.id"
        return [
            LocalBroker(
                self.home / f"node-{n}",
                port=self.port + 2 * (n - 1),
                node_id=n,
                voters=voters,
                replication=self.size,
                min_insync=self.min_insync,
                credentials=self.home / "credentials",
                cluster_id=cluster_id_file.read_text().strip()
                if cluster_id_file.exists()
                else None,
            )
            for n in range(1, self.size + 1)
        ]

    @property
    def bootstrap(self) -> str:
        return ",".join(node.bootstrap for node in self.nodes)

    @property
    def admin(self) -> KafkaConnection:
        return replace(self.nodes[0].admin, bootstrap=self.bootstrap)

    def start(self, supervisor: int | None = None) -> None:
        """Start every node; the voters wait for each other, so they start side by side."""
        cluster_id_file = self.home / "cluster.id"
        if not cluster_id_file.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            java = _require("java", "install a Java runtime (17 or newer) to run Kafka.")
            cluster_id_file.write_text(new_cluster_id(java, f"{fetch_jars()}/*"))
        for principal in (BROKER_PRINCIPAL, ADMIN):  # before the nodes, which all read them
            ensure_password_file(self.home / "credentials", principal)
        errors: list[BaseException] = []

        def start(node: LocalBroker) -> None:
            try:
                node.start(supervisor)
            except BaseException as error:  # reported below, once every node has tried
                errors.append(error)

        threads = [threading.Thread(target=start, args=(node,)) for node in self.nodes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]

    def stop(self) -> None:
        # Side by side: a node shutting down waits for the quorum the others make.
        threads = [threading.Thread(target=node.stop) for node in self.nodes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
