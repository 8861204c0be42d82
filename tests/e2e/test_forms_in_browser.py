"""Caseworkers' forms in a real browser (Debian's Chromium, driven by Playwright), against
the forms and the three services served over HTTP on the real broker."""

import pytest
from playwright.sync_api import Browser, Page

from tests.browser import screenshot_path
from tests.conftest import platform_settings
from tests.webplatform import FormsPlatform, forms_platform

pytestmark = pytest.mark.kafka
FIRST_PORT = 23101


@pytest.fixture(scope="module")
def platform(kafka_broker, tmp_path_factory):
    folder = tmp_path_factory.mktemp("forms")
    with forms_platform(platform_settings(kafka_broker, folder), folder, FIRST_PORT) as running:
        yield running


def signed_in(browser: Browser, platform: FormsPlatform, who: str, language: str = "en") -> Page:
    """A new browser (its own cookies), signed in at the local issuer as the demo user ``who``."""
    context = browser.new_context(viewport={"width": 360, "height": 740}, locale=language)
    page = context.new_page()
    page.goto(platform.url + "/sign-in")
    page.get_by_role("link", name="Sign in").click()
    page.locator(f"button[name=demo][value='{who}']").click()
    return page


def test_a_caseworker_registers_a_child(browser, platform):
    page = signed_in(browser, platform, "cw-0412")
    assert page.url.endswith("/cases")
    page.goto(platform.url + "/cases/new")
    page.screenshot(path=screenshot_path("forms-registration"), full_page=True)
    page.fill("#f-name", "Amani Zawadi")
    page.fill("#f-release-date", "2026-10-03")
    page.fill("#f-release-place", "Kalehe")
    page.select_option("#f-release-how_left", "escape")
    page.fill("#f-armed_group-name", "Example faction")
    page.select_option("#f-armed_group-kind", "non_state_armed_group")
    page.select_option("#f-sex", "female")
    page.fill("#f-estimated_age", "15")
    page.get_by_role("button", name="Record").click()
    page.wait_for_url("**/cases/*?recorded=1")
    page.screenshot(path=screenshot_path("forms-case"), full_page=True)
    case_id = page.url.split("/cases/")[1].split("?")[0]
    assert platform.intake_events(case_id) == ["ChildRegistered"]
