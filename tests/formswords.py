"""Every sentence, label and choice the forms show on the pages a caseworker needs most: what
each language's catalogue must translate (a language with a gap fails the test)."""

import re
from pathlib import Path

from fastapi import FastAPI

from services.followup import api as followup_api
from services.intake import api as intake_api
from services.intake import steps as intake_steps
from services.intake.domain import RiskLevel, Stage
from services.referral import api as referral_api
from services.referral.domain import ReferralState
from services.referral.sharing import CATEGORY_FIELDS
from services.web import errors, forms, pages
from services.web.forms import Schemas, humanised
from services.web.pages import humanised_event

TEMPLATES = Path(pages.__file__).parent / "templates"
# The forms a caseworker meets on the way from registration to a referral.
COMMON_STEPS = ("interim-care", "consents", "risk-level")
COMMON_EVENTS = (
    "org.homeward.intake.ChildRegistered.v2",
    "org.homeward.intake.HandedOver.v1",
    "org.homeward.intake.InterimCarePlaced.v1",
    "org.homeward.intake.ConsentGiven.v1",
    "org.homeward.intake.RiskLevelSet.v1",
)
VISIT_STATUSES = ("scheduled", "completed", "missed", "called_off")  # services.followup.domain
PAGE_WORDS = re.compile(r"""_\((?P<q>["'])(?P<text>.+?)(?P=q)\)""")
MESSAGES = re.compile(r"""(?:message|title)=\s*"(?P<text>[^"]+)\"""")
FORM_TITLES = re.compile(r'FormPage\(\s*"(?P<text>[^"]+)"')
TITLES = re.compile(r"""\{% set title = "(?P<text>[^"]+)" %\}""")


def openapi(*routers) -> Schemas:
    app = FastAPI()
    for router in routers:
        app.include_router(router)
    return Schemas(app.openapi())


def form_words() -> set[str]:
    intake = openapi(intake_api.router, intake_steps.journey)
    referral = openapi(referral_api.router)
    followup = openapi(followup_api.router)
    fields = [
        *intake.fields(intake.request_model("/cases") or {}),
        *(
            field
            for step in COMMON_STEPS
            for field in intake.fields(intake.request_model(f"/cases/{{case_id}}/{step}") or {})
        ),
        *referral.fields(referral.request_model("/referrals") or {}),
        *followup.fields(
            followup.request_model("/plans/{case_id}/visits/{number}/completion") or {}
        ),
    ]
    words = {field.label for field in fields} | {field.section for field in fields if field.section}
    words |= {humanised(choice) for field in fields for choice in field.choices}
    words |= {humanised(step) for step in COMMON_STEPS}
    return words


def needed() -> set[str]:
    words = form_words()
    for template in TEMPLATES.glob("*.html"):
        words |= {m["text"] for m in PAGE_WORDS.finditer(template.read_text())}
        words |= {m["text"] for m in TITLES.finditer(template.read_text())}
    for module in (pages,):
        words |= {m["text"] for m in MESSAGES.finditer(Path(module.__file__).read_text())}
        words |= {m["text"] for m in FORM_TITLES.finditer(Path(module.__file__).read_text())}
    words |= {msgid for _, msgid in errors.KNOWN_PROBLEMS} | {errors.IN_THE_FUTURE}
    words |= set(forms.HINTS.values()) | set(forms.YES_NO.values())
    words |= {rule for _, _, rule in pages.age_rules(pages.AgeTable())}
    words |= {humanised(str(stage)) for stage in Stage} | {humanised(str(r)) for r in RiskLevel}
    words |= {humanised_event(event) for event in COMMON_EVENTS}
    words |= {"Referral", "Caseworker", "Supervisor", "Partner", "Auditor", "Admin"}
    words |= {humanised(str(name)) for names in CATEGORY_FIELDS.values() for name in names}
    words |= {humanised(str(state)) for state in ReferralState}
    words |= {humanised(status) for status in VISIT_STATUSES}
    return words
