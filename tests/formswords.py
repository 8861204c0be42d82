"""Every sentence, label and choice the forms show, on every page and every form they offer:
what each language's catalogue must translate (a language with a gap fails the test)."""

import re
from pathlib import Path

from fastapi import FastAPI

from services.followup import api as followup_api
from services.intake import api as intake_api
from services.intake import steps as intake_steps
from services.intake.domain import RiskLevel, Stage
from services.intake.messages import CATALOGUE
from services.referral import api as referral_api
from services.referral.domain import ReferralState
from services.referral.sharing import CATEGORY_FIELDS
from services.web import errors, forms, pages
from services.web.forms import Field, Schemas, humanised
from services.web.pages import humanised_event
from shared.envelope import event_type
from shared.publishing import published_schema

TEMPLATES = Path(pages.__file__).parent / "templates"
VISIT_STATUSES = ("scheduled", "completed", "missed", "called_off")  # services.followup.domain
PAGE_WORDS = re.compile(r"""_\((?P<q>["'])(?P<text>.+?)(?P=q)\)""")
MESSAGES = re.compile(r"""(?:message|title|not_now)=\s*"(?P<text>[^"]+)\"""")
FORM_TITLES = re.compile(r'FormPage\(\s*"(?P<text>[^"]+)"')
TITLES = re.compile(r"""\{% set title = "(?P<text>[^"]+)" %\}""")
A_CASE = "/cases/{case_id}/"


def openapi(*routers) -> Schemas:
    app = FastAPI()
    for router in routers:
        app.include_router(router)
    return Schemas(app.openapi())


def intake_steps_offered(intake: Schemas) -> list[str]:
    """Every step a case page may offer: each of intake's steps that has a form."""
    every = [
        path.removeprefix(A_CASE)
        for path in intake.paths
        if path.startswith(A_CASE) and "{" not in path.removeprefix(A_CASE)
    ]
    return pages.step_paths(intake, every)


def every_form() -> list[Field]:
    """The fields of every form the pages offer: registration, each step, the referral,
    each of follow-up's forms on a plan and each of a partner's answers."""
    intake = openapi(intake_api.router, intake_steps.journey)
    referral = openapi(referral_api.router)
    followup = openapi(followup_api.router)
    models = [
        intake.request_model("/cases"),
        *(intake.request_model(f"{A_CASE}{step}") for step in intake_steps_offered(intake)),
    ]
    fields = [field for model in models for field in intake.fields(model or {})]
    fields += referral.fields(referral.request_model("/referrals") or {})
    for path in pages.PLAN_FORMS:
        fields += followup.fields(followup.request_model(f"/plans/{{case_id}}/{path}") or {})
    for answer in pages.ANSWERS:
        fields += Schemas({}).fields(published_schema(f"org.homeward.partner.{answer}.v1"))
    return fields


def form_words() -> set[str]:
    fields = every_form()
    words = {field.label for field in fields} | {field.section for field in fields if field.section}
    words |= {humanised(choice) for field in fields for choice in field.choices}
    words |= {field.hint for field in fields if field.hint}
    intake = openapi(intake_api.router, intake_steps.journey)
    words |= {humanised(step) for step in intake_steps_offered(intake)}
    words |= set(pages.PLAN_FORMS.values()) | set(pages.VISIT_LINKS.values())
    words |= set(pages.ANSWERS.values())
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
    words |= {msgid for _, msgid in errors.REFUSALS} | {errors.UNKNOWN_REFUSAL}
    words |= set(forms.HINTS.values()) | set(forms.OWN_WORDS.values())
    words |= {rule for _, _, rule in pages.age_rules(pages.AgeTable())}
    words |= {humanised(str(stage)) for stage in Stage} | {humanised(str(r)) for r in RiskLevel}
    # Every fact intake publishes may show on a case's timeline.
    words |= {
        humanised_event(event_type("intake", form.name, form.version))
        for form in CATALOGUE.published
    }
    words |= {"Referral", "Caseworker", "Supervisor", "Partner", "Auditor", "Admin"}
    words |= {humanised(str(name)) for names in CATEGORY_FIELDS.values() for name in names}
    words |= {humanised(str(state)) for state in ReferralState}
    words |= {humanised(status) for status in VISIT_STATUSES}
    return words
