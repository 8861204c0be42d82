"""Platform processes as the end-to-end tests run them: `homeward serve` and `homeward up`."""

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import httpx2 as httpx


def without_homeward_settings() -> dict[str, str]:
    """The test's environment, but for the platform's own settings, which each test sets."""
    return {key: value for key, value in os.environ.items() if not key.startswith("HOMEWARD_")}


def printed_by(command: list[str], env: dict[str, str], cwd: Path | None = None) -> str:
    """Run a command to its end; what it printed (it must succeed)."""
    done = subprocess.run(
        command, env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def run_readme_command(command: str, env: dict[str, str], cwd: Path) -> str:
    """Run a README's shell block with bash, the venv's ``homeward`` first on the PATH, from
    ``cwd``; what it printed (it must succeed)."""
    path = f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    return printed_by(["bash", "-euo", "pipefail", "-c", command], {"PATH": path, **env}, cwd)


def up_env(data_dir: Path, ports: dict[str, int], broker_port: int) -> dict[str, str]:
    """What `homeward up` needs to run on its own data directory and ports."""
    return without_homeward_settings() | {
        "HOMEWARD_DATA_DIR": str(data_dir),
        "HOMEWARD_LOCAL_BROKER_PORT": str(broker_port),
        **{f"HOMEWARD_{service.upper()}_PORT": str(port) for service, port in ports.items()},
    }


def serve(
    service: str, port: int, env: dict[str, str], log: IO[bytes], timeout: float = 60
) -> "subprocess.Popen[bytes]":
    """Start one service in a process of its own and wait until it answers."""
    process = subprocess.Popen(
        [sys.executable, "-m", "shared.cli", "serve", service, "--port", str(port)],
        env=env,
        stdout=log,
        stderr=log,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError(f"the {service} service on port {port} did not start")
