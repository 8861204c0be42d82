"""Caseworkers' forms in a real browser (Debian's Chromium, driven by Playwright), against the
forms and the three services served over HTTP on the real broker.

Every page a test reaches is also weighed, as a browser with an empty cache loads it (each
response's body and headers, as transferred), and checked with axe-core (no serious or
critical violation); the figures are written to var/test-output/forms-figures.txt.
"""

import json
import time
import uuid
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, BrowserContext, Page
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from shared.settings import REPO_ROOT
from tests.browser import screenshot_path
from tests.conftest import platform_settings
from tests.npmfiles import NpmFile
from tests.partner import register_partner
from tests.running import CaseInIntake
from tests.samples import FAMILY_TRACING_CONSENT, TRACING_STARTED, registration
from tests.signin import staff_headers
from tests.webplatform import FormsPlatform, forms_platform

pytestmark = pytest.mark.kafka
MOST_BYTES_PER_PAGE = 100 * 1024
PHONE = {"width": 360, "height": 740}
# `npm view axe-core@4.14.1 dist.integrity`
AXE = NpmFile(
    package="axe-core",
    version="4.14.1",
    sha512="FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ==",
    path="package/axe.min.js",
    cache_folder="axe-core",
)
FIGURES = REPO_ROOT / "var" / "test-output" / "forms-figures.txt"
SERIOUS = """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
    .filter(v => v.impact === "serious" || v.impact === "critical")
    .map(v => `${v.id}: ${v.nodes.map(n => n.target.join(" ")).join(", ")}`)"""


@pytest.fixture(scope="module")
def platform(kafka_broker, tmp_path_factory):
    folder = tmp_path_factory.mktemp("forms")
    with forms_platform(platform_settings(kafka_broker, folder), folder) as running:
        yield running


@pytest.fixture(scope="module")
def weights(browser):
    """Each page's weight in bytes and its serious axe violations, by page name; written out
    for a reviewer at the end."""
    found: dict[str, tuple[int, list[str]]] = {}
    yield found
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    FIGURES.write_text(
        "".join(
            f"{name}: {size / 1024:.1f} KB, axe serious/critical: {len(violations)}\n"
            for name, (size, violations) in sorted(found.items())
        )
    )


def checked(
    page: Page,
    name: str,
    weights: dict,
    browser: Browser,
    screenshot: str | None = None,
    ours: bool = True,
) -> None:
    """Load the page ``page`` shows in a fresh browser with the same cookies and no cache:
    under 100 KB transferred, no serious or critical accessibility violation; and save its
    ``screenshot`` for a reviewer (taken here: a full-page screenshot of the page a test
    goes on with leaves Chromium's next click unanswered). The forms' own pages (``ours``)
    also fit a 360-px phone. axe-core is injected past the pages' CSP, in this copy only."""
    cold = browser.new_context(
        storage_state=page.context.storage_state(), viewport=PHONE, bypass_csp=True
    )
    try:
        fresh = cold.new_page()
        sizes: list[int] = []
        fresh.on(
            "requestfinished",
            lambda request: sizes.append(
                request.sizes()["responseBodySize"] + request.sizes()["responseHeadersSize"]
            ),
        )
        fresh.goto(page.url, wait_until="load")
        if screenshot:
            fresh.screenshot(path=screenshot_path(screenshot), full_page=True)
        fresh.add_script_tag(path=AXE.fetched())
        violations = fresh.evaluate(SERIOUS)
        # Nothing wider than the phone: no sideways scrolling at 360 px.
        wide = fresh.evaluate("document.documentElement.scrollWidth")
    finally:
        cold.close()
    weights[name] = (sum(sizes), violations)
    assert sum(sizes) < MOST_BYTES_PER_PAGE, f"{name}: {sum(sizes)} bytes"
    assert violations == [], f"{name}: {violations}"
    assert not ours or wide <= PHONE["width"], f"{name} is {wide} px wide"


def signed_in(
    browser: Browser,
    platform: FormsPlatform,
    role: str,
    agency: str,
    sub: str,
    language: str = "en-GB",
) -> Page:
    """A browser of its own (its own cookies) at 360 px, signed in through the forms'
    OpenID Connect flow at the local issuer, as ``sub``, a ``role`` of ``agency``."""
    context: BrowserContext = browser.new_context(viewport=PHONE, locale=language)
    page = context.new_page()
    page.goto(platform.url + "/sign-in")
    page.locator("a.button").click()  # its words are in the browser's language
    page.select_option("#other-role", role)
    page.fill("#other-agency", agency)
    page.fill("#other-sub", sub)
    page.locator("form:has(#other-role) button").click()
    page.wait_for_url(lambda url: "/local-issuer/" not in url and "/signed-in" not in url)
    return page


def new_agency(prefix: str = "CD") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:4].upper()}"


def fill_registration(page: Page, platform: FormsPlatform, name: str = "Amani Zawadi") -> None:
    page.goto(platform.url + "/cases/new")
    page.fill("#f-name", name)
    page.fill("#f-release-date", "2026-10-03")
    page.fill("#f-release-place", "Kalehe")
    page.select_option("#f-release-how_left", "escape")
    page.fill("#f-armed_group-name", "Example faction")
    page.select_option("#f-armed_group-kind", "non_state_armed_group")
    page.select_option("#f-sex", "female")
    page.fill("#f-estimated_age", "15")


def case_of(page: Page) -> str:
    """The case whose page the form led to, once recorded (or what the page said instead)."""
    try:
        try:
            page.wait_for_url("**/cases/*?recorded=1", timeout=15_000)
        except PlaywrightError as error:
            # A form sent twice navigates twice to the same page: the second navigation
            # aborts the first, and the wait goes on for the second.
            if "ERR_ABORTED" not in str(error):
                raise
            page.wait_for_url("**/cases/*?recorded=1", timeout=15_000)
    except PlaywrightTimeout:
        raise AssertionError(page.locator("main").inner_text()) from None
    return page.url.split("/cases/")[1].split("?")[0]


def registrations(platform: FormsPlatform) -> int:
    """How many children intake's event store holds registered (the tests of this module run
    one after the other, so a test counts its own by the difference)."""
    recorder = platform.intake.app.state.runtime.application.recorder
    notifications = recorder.select_notifications(start=1, limit=1_000_000)
    return sum(n.topic.endswith("ChildRegistered") for n in notifications)


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def test_a_caseworker_follows_a_child_from_registration_to_a_referral(
    browser, platform, weights, tmp_path
):
    agency = new_agency()
    school = new_agency("SCH")
    register_partner(
        platform.referral, platform.settings.kafka_bootstrap, school, "education", tmp_path
    )
    page = signed_in(browser, platform, "caseworker", agency, "cw-0412")
    assert page.url.endswith("/cases")
    checked(page, "my cases", weights, browser)

    fill_registration(page, platform)
    checked(page, "register a released child", weights, browser, "forms-registration")
    page.get_by_role("button", name="Record").click()
    case_id = case_of(page)
    case_number = page.locator("h1").inner_text()
    checked(page, "case", weights, browser, "forms-case")

    page.goto(f"{platform.url}/cases/{case_id}/steps/interim-care")
    checked(page, "step: interim care", weights, browser)
    page.select_option("#f-kind", "interim_care_centre")
    page.fill("#f-carer", "CTO Goma")
    page.fill("#f-entered_on", today())
    page.get_by_role("button", name="Record").click()
    case_of(page)
    # Only the steps the case allows now: the placement's end, not a second placement, and
    # no reunification before tracing.
    offered = page.locator("ul.steps a").all_text_contents()  # "More steps" folded too
    assert "Interim care: end" in offered
    assert not {"Interim care", "Reunification", "Tracing: leads"} & set(offered)
    page.goto(f"{platform.url}/cases/{case_id}/steps/reunification")
    assert "does not allow this step now" in page.locator("main").inner_text()

    page.goto(f"{platform.url}/cases/{case_id}/steps/consents")
    checked(page, "step: consent", weights, browser, "forms-consent")
    # The age table, with the band of this child (estimated 15) marked.
    assert page.locator("tr.here").inner_text().endswith("The child's own consent.")
    page.select_option("#f-given_by", "child_consent")
    page.select_option("#f-purpose", "education")
    page.fill("#f-recipients", school)
    page.check("input[name=categories][value=identity]")
    page.fill("#f-given_on", today())
    page.get_by_role("button", name="Record").click()
    case_of(page)

    page.goto(f"{platform.url}/cases/{case_id}/referral")
    checked(page, "referral", weights, browser)
    # The referral service learns the consent through Kafka: until then it refuses (409).
    deadline = time.monotonic() + 30
    while True:
        page.fill("#f-agency", school)
        page.select_option("#f-service", "education")
        page.select_option("#f-purpose", "education")
        page.check("input[name=categories][value=identity]")
        page.get_by_role("button", name="Record").click()
        # The answer replaces the page: the case, or the form again with the refusal.
        page.locator("p.notice[role=status]:visible").or_(page.locator("p.error")).first.wait_for()
        if "recorded=1" in page.url:
            break
        assert time.monotonic() < deadline, page.locator(".error").all_inner_texts()
        time.sleep(0.5)
    timeline = page.locator("ol.timeline").inner_text()
    assert "Referral: Education" in timeline
    assert "Interim care placed" in timeline
    assert "Consent given" in timeline
    page.screenshot(path=screenshot_path("forms-case-timeline"), full_page=True)
    assert platform.intake_events(case_id) == [
        "ChildRegistered",
        "InterimCarePlaced",
        "ConsentGiven",
    ]

    # Found by a word of her name (intake's keyed index, fed through Kafka): posted, so that
    # the name is in no URL.
    deadline = time.monotonic() + 30
    while True:
        page.goto(platform.url + "/cases")
        page.fill("#search-name", "zawadi")
        page.locator("form[action='/cases/search'] button").click()
        page.wait_for_url("**/cases/search")
        if case_number in page.locator("ul.cases").inner_text():
            break
        assert time.monotonic() < deadline, page.locator("main").inner_text()
        time.sleep(0.5)
    assert page.locator("ul.cases li").count() == 1
    assert "zawadi" not in page.url.lower()
    page.screenshot(path=screenshot_path("forms-search-by-name"), full_page=True)


def test_a_partner_sees_only_its_own_referrals(browser, platform, weights, tmp_path):
    agency = new_agency()
    ours, theirs = new_agency("SCH"), new_agency("SCH")
    headers = staff_headers(platform.settings, agency=agency)
    referral_ids = {}
    for partner in (ours, theirs):
        register_partner(
            platform.referral,
            platform.settings.kafka_bootstrap,
            partner,
            "education",
            tmp_path / partner,
        )
        case = platform.intake.post(
            "/cases", json=registration_body(agency), headers=headers
        ).json()
        platform.intake.post(
            f"/cases/{case['case_id']}/consents",
            json={
                "version": case["version"],
                "given_by": "child_consent",
                "purpose": "education",
                "recipients": [partner],
                "categories": ["identity"],
                "given_on": today(),
            },
            headers=headers,
        )
        referral_ids[partner] = referred(platform, headers, case["case_id"], partner)

    page = signed_in(browser, platform, "partner", ours, f"{ours.lower()}-app")
    assert page.url.endswith("/inbox")
    checked(page, "partner's inbox", weights, browser)
    page.screenshot(path=screenshot_path("forms-partner-inbox"), full_page=True)
    listed = page.locator("ul.referrals").inner_text()
    assert referral_ids[ours] in listed
    assert referral_ids[theirs] not in listed

    # The partner answers through the forms: it accepts, starts the service, reports a
    # milestone; each time only the answers the referral's state takes are offered.
    assert page.locator("ul.referrals ul.steps a").all_inner_texts() == ["Accept", "Decline"]
    page.get_by_role("link", name="Accept").click()
    checked(page, "partner's answer: accept", weights, browser)
    page.get_by_role("button", name="Record").click()
    page.wait_for_url("**/inbox?recorded=1")
    offered = page.locator("ul.referrals ul.steps a").all_inner_texts()
    assert offered == ["Service started", "Service discontinued"]
    page.get_by_role("link", name="Service started").click()
    page.fill("#f-started_on", today())
    page.get_by_role("button", name="Record").click()
    page.wait_for_url("**/inbox?recorded=1")
    page.get_by_role("link", name="Milestone reached").click()
    checked(page, "partner's answer: milestone", weights, browser, "forms-partner-milestone")
    page.select_option("#f-milestone", "education_enrolled")
    page.fill("#f-reported_on", today())
    page.fill("#f-detail", "enrolled in grade 5 at EP Mapendo")
    page.get_by_role("button", name="Record").click()
    page.wait_for_url("**/inbox?recorded=1")
    referral = platform.referral.get(f"/referrals/{referral_ids[ours]}", headers=headers).json()
    assert referral["state"] == "in_service"
    assert [milestone[0] for milestone in referral["milestones"]] == ["education_enrolled"]
    # A form for an answer the state no longer takes is not offered.
    page.goto(f"{platform.url}/inbox/{referral_ids[ours]}/answers/ReferralAccepted")
    assert "does not take this answer now" in page.locator("main").inner_text()


def registration_body(agency: str) -> dict:
    return {
        "name": "Furaha Example",
        "release": {"date": "2026-10-03", "place": "Kalehe", "how_left": "escape"},
        "armed_group": {"name": "Example faction", "kind": "non_state_armed_group"},
        "sex": "female",
        "estimated_age": 15,
        "registering_agency": agency,
    }


def referred(platform: FormsPlatform, headers: dict, case_id: str, partner: str) -> str:
    """A referral made over the API, once the referral service has learnt the consent."""
    body = {
        "case_id": case_id,
        "agency": partner,
        "service": "education",
        "purpose": "education",
        "categories": ["identity"],
    }
    deadline = time.monotonic() + 30
    while (
        answer := platform.referral.post("/referrals", json=body, headers=headers)
    ).status_code != 201:
        assert time.monotonic() < deadline, answer.text
        time.sleep(0.3)
    return str(answer.json()["referral_id"])


@pytest.mark.parametrize(
    ("language", "required", "at_most", "direction"),
    [
        ("fr", "Ce champ est obligatoire.", "Saisissez au plus 30.", "ltr"),
        ("ar", "هذا الحقل إلزامي.", "أدخل 30 على الأكثر.", "rtl"),
    ],
)
def test_refusals_show_next_to_their_field_in_the_users_language(
    browser, platform, weights, language, required, at_most, direction
):
    page = signed_in(browser, platform, "caseworker", new_agency(), "cw-0412")
    page.select_option("#language-choice", language)
    page.locator("#language-choice ~ button").click()
    fill_registration(page, platform, name="")  # no name: a required field left empty
    page.fill("#f-estimated_age", "40")  # over the service's 30
    page.locator("#f-estimated_age").press("Enter")  # sent from the keyboard alone
    page.wait_for_selector("#f-name-error")
    # The service's own 422, field by field, in the user's language, beside each field.
    assert page.locator("#f-name-error").inner_text() == required
    assert page.locator("#f-estimated_age-error").inner_text() == at_most
    assert page.locator("#f-estimated_age").get_attribute("aria-describedby") == (
        "f-estimated_age-error"
    )
    assert page.locator("html").get_attribute("lang") == language
    computed = page.evaluate("getComputedStyle(document.body).direction")
    assert computed == direction
    page.screenshot(path=screenshot_path(f"forms-errors-{language}"), full_page=True)
    checked(page, f"register a released child ({language})", weights, browser)
    # The choice is remembered: a new page is in the same language.
    page.goto(platform.url + "/cases")
    assert page.locator("html").get_attribute("lang") == language


def test_a_form_sent_twice_records_one_case(browser, platform):
    agency = new_agency()
    page = signed_in(browser, platform, "caseworker", agency, "cw-0412")
    fill_registration(page, platform)
    before = registrations(platform)
    # Pressed twice on a slow connection: two posts of the same form, at once.
    page.evaluate(
        "() => { const f = document.querySelector('form[data-offline]');"
        " f.requestSubmit(); f.requestSubmit(); }"
    )
    case_id = case_of(page)
    assert registrations(platform) == before + 1
    assert platform.intake_events(case_id) == ["ChildRegistered"]

    page.goto(f"{platform.url}/cases/{case_id}/steps/interim-care")
    page.select_option("#f-kind", "interim_care_centre")
    page.fill("#f-carer", "CTO Goma")
    page.fill("#f-entered_on", today())
    page.evaluate(
        "() => { const f = document.querySelector('form[data-offline]');"
        " f.requestSubmit(); f.requestSubmit(); }"
    )
    case_of(page)
    assert platform.intake_events(case_id) == ["ChildRegistered", "InterimCarePlaced"]


def test_a_form_filled_while_offline_is_kept_sealed_and_sent_once_when_online(browser, platform):
    agency = new_agency()
    page = signed_in(browser, platform, "caseworker", agency, "cw-0412")
    fill_registration(page, platform, name="Neema Offline-Marker")
    before = registrations(platform)
    page.context.set_offline(True)
    page.get_by_role("button", name="Record").click()
    status = page.locator("#offline-status")
    status.wait_for(state="visible")
    assert "kept in this browser" in status.inner_text()
    kept = page.evaluate("localStorage.getItem('homeward.pending')")
    assert len(json.loads(kept)) == 1
    assert "Offline-Marker" not in kept  # sealed: not the child's name in clear
    assert registrations(platform) == before

    page.context.set_offline(False)  # the browser's `online` event: the script sends it
    case_id = case_of(page)
    assert page.evaluate("localStorage.getItem('homeward.pending')") is None
    assert registrations(platform) == before + 1
    assert platform.intake_events(case_id) == ["ChildRegistered"]


def test_a_step_based_on_an_old_version_asks_to_reload(browser, platform, weights):
    agency = new_agency()
    page = signed_in(browser, platform, "caseworker", agency, "cw-0412")
    fill_registration(page, platform)
    page.get_by_role("button", name="Record").click()
    case_id = case_of(page)
    page.goto(f"{platform.url}/cases/{case_id}/steps/risk-level")
    # Meanwhile a colleague records another step on the case.
    headers = staff_headers(platform.settings, agency=agency)
    changed = platform.intake.post(
        f"/cases/{case_id}/risk-level",
        json={"version": 1, "level": "high", "reason": "threat", "set_at": f"{today()}T08:00:00Z"},
        headers=headers,
    )
    assert changed.status_code == 200, changed.text
    page.select_option("#f-level", "low")
    page.fill("#f-reason", "settled")
    page.fill("#f-set_at", f"{today()}T07:00")
    page.get_by_role("button", name="Record").click()
    alert = page.locator("p[role=alert]").first
    assert "Reload it to see the change" in alert.inner_text()
    assert platform.intake_events(case_id) == ["ChildRegistered", "RiskLevelSet"]
    checked(page, "step: refused as stale", weights, browser)


def test_a_caseworker_records_a_follow_up_visit_after_the_return(browser, platform, weights):
    agency = new_agency()
    intake = TestClient(
        platform.intake.app, headers=staff_headers(platform.settings, agency=agency)
    )
    child = CaseInIntake.register(intake, registration(registering_agency=agency))
    child.step("consents", **FAMILY_TRACING_CONSENT)
    child.step("tracing", **TRACING_STARTED)
    child.safeguarded_return(platform.settings)
    child.step("reunification", reunified_on="2026-10-12")

    page = signed_in(browser, platform, "caseworker", agency, "cw-0412")
    # Follow-up makes the plan when it reads the return on Kafka.
    deadline = time.monotonic() + 30
    while True:
        page.goto(f"{platform.url}/cases/{child.id}")
        if page.locator("ol.visits").count():
            break
        assert time.monotonic() < deadline, "no follow-up plan on the case page"
        time.sleep(0.5)
    checked(page, "case with its follow-up visits", weights, browser)
    page.locator("ol.visits a").first.click()
    page.wait_for_url("**/plan/visits/1/completion")
    checked(page, "follow-up visit", weights, browser, "forms-follow-up-visit")
    page.fill("#f-visited_on", today())
    page.select_option("#f-mode", "home")
    page.select_option("#f-wellbeing", "good")
    page.fill("#f-livelihood_status", "helping at the family's shop")
    page.select_option("#f-family_acceptance", "good")
    page.select_option("#f-community_acceptance", "fair")
    page.check("#f-attending_school")  # the other yes/no questions left unticked: no
    page.get_by_role("button", name="Record").click()
    case_of(page)
    assert "Completed" in page.locator("ol.visits").inner_text()
    plan = platform.followup(agency).get(f"/plans/{child.id}").json()
    assert [visit["status"] for visit in plan["visits"][:2]] == ["completed", "scheduled"]

    # The next visit did not happen: marked missed, it stays to be made.
    page.get_by_role("link", name="Missed visit").first.click()
    page.wait_for_url("**/plan/visits/2/missed")
    checked(page, "missed visit", weights, browser)
    page.fill("#f-reason", "the family had gone to the market in Sake")
    page.get_by_role("button", name="Record").click()
    case_of(page)
    # A follow-up risk review: high alerts intake and brings closer visits.
    page.get_by_role("link", name="Follow-up risk review").click()
    checked(page, "follow-up risk review", weights, browser, "forms-follow-up-risk")
    page.select_option("#f-level", "high")
    page.fill("#f-reason", "an armed group recruits near the school")
    page.get_by_role("button", name="Record").click()
    case_of(page)
    plan = platform.followup(agency).get(f"/plans/{child.id}").json()
    assert plan["visits"][1]["status"] == "missed"
    assert plan["risk"] == "high"
    assert "high_risk" in plan["alerts"]
    # A missed visit may still be made; it can no longer be marked missed.
    links = page.locator("ol.visits li").nth(1).locator("a").all_inner_texts()
    assert links == ["Record this visit"]


@pytest.mark.parametrize(
    ("language", "refusal"),
    [
        ("fr", "L'évaluation médicale de l'âge est un dernier recours"),
        ("ar", "التقييم الطبي للعمر هو الملاذ الأخير"),
    ],
)
def test_a_rule_refusal_reads_in_the_users_language(browser, platform, weights, language, refusal):
    page = signed_in(browser, platform, "caseworker", new_agency(), "cw-0412", language)
    fill_registration(page, platform)
    record = page.locator("form[data-offline] button[type=submit]")  # in the user's words
    record.click()
    case_id = case_of(page)
    page.goto(f"{platform.url}/cases/{case_id}/steps/age-assessment")
    # A medical assessment before any other: intake's rule refuses it (409), in English.
    page.select_option("#f-method", "medical")
    page.select_option("#f-result", "under_18")
    page.fill("#f-assessed_on", today())
    record.click()
    alert = page.locator("p[role=alert]").first
    alert.wait_for()
    assert refusal in alert.inner_text()
    assert case_id not in alert.inner_text()  # ids are the services' words, not the user's
    checked(page, f"step refused by a rule ({language})", weights, browser)


def test_the_sign_in_pages_and_the_auditors_case_history(browser, platform, weights):
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.goto(platform.url + "/")
    assert page.url.endswith("/sign-in")
    checked(page, "sign in", weights, browser)
    page.locator("a.button").click()
    assert "/local-issuer/authorize" in page.url
    checked(page, "local issuer", weights, browser)
    context.close()

    agency = new_agency()
    headers = staff_headers(platform.settings, agency=agency)
    case = platform.intake.post("/cases", json=registration_body(agency), headers=headers).json()
    auditor = signed_in(browser, platform, "auditor", "UN-AUDIT", "au-0001")
    assert auditor.url.endswith("/audit")
    checked(auditor, "auditor's search", weights, browser)
    auditor.fill("#case-id", case["case_id"])
    auditor.get_by_role("button", name="Open").click()
    # The history comes through Kafka: until the message is read, intake answers 404.
    deadline = time.monotonic() + 30
    while "ChildRegistered" not in auditor.content():
        assert time.monotonic() < deadline, auditor.content()[:500]
        time.sleep(0.5)
        auditor.reload()
    auditor.screenshot(path=screenshot_path("forms-audit-history"), full_page=True)
    # Intake's own report: its tables are wider than a phone (they scroll sideways there).
    checked(auditor, "auditor's case history (intake's report)", weights, browser, ours=False)
