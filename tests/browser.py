"""A real browser for the tests: Debian's Chromium, driven by Playwright.

Playwright's own browser download is not used (it cannot be fetched here, and Debian's
Chromium is what a reviewer can install too); ``deploy/browser/chromium`` installs it when it
is missing. Screenshots go under ``var/test-output/screenshots`` for a reviewer to look at.
"""

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from shared.settings import REPO_ROOT

CHROMIUM_SCRIPT = REPO_ROOT / "deploy" / "browser" / "chromium"
SCREENSHOTS = REPO_ROOT / "var" / "test-output" / "screenshots"


def chromium_executable() -> str:
    found = subprocess.run(
        [str(CHROMIUM_SCRIPT)], capture_output=True, text=True, timeout=1900, check=False
    )
    if found.returncode != 0:
        pytest.fail(f"no Chromium for the browser tests:\n{found.stderr}")
    return found.stdout.strip()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Headless Chromium for the whole session; each test opens its own context."""
    executable = chromium_executable()
    with sync_playwright() as playwright:
        # Root (as in CI here) needs --no-sandbox.
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        launched.close()


def screenshot_path(name: str) -> Path:
    """Where a test saves a screenshot of a key page for a reviewer."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{name}.png"
