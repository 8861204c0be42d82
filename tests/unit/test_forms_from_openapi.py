"""The forms made from the services' request models: fields, required marks, choices,
sections, and the JSON body a posted form makes."""

from datetime import date

from fastapi import FastAPI

from services.followup import api as followup_api
from services.intake import api as intake_api
from services.intake import steps as intake_steps
from services.web.forms import Schemas, body_of, dates_in_the_future, humanised
from shared.publishing import published_schema


def intake_schemas() -> Schemas:
    app = FastAPI()
    app.include_router(intake_api.router)
    app.include_router(intake_steps.journey)
    return Schemas(app.openapi())


def registration_fields():
    schemas = intake_schemas()
    return schemas.fields(schemas.request_model("/cases") or {})


def test_the_registration_form_is_the_request_model_flattened_into_sections():
    fields = {field.name: field for field in registration_fields()}
    assert fields["name"].required
    assert not fields["date_of_birth"].required
    assert fields["release.date"].kind == "date"
    assert fields["release.date"].section == "Release"
    assert not fields["release.date"].optional_section
    assert fields["handover.at"].kind == "datetime"
    assert fields["handover.at"].optional_section  # a registration may leave out the handover
    assert "escape" in fields["release.how_left"].choices
    # A retired way of leaving stays on the cases that recorded it, and is offered no more.
    assert "capture_or_surrender" not in fields["release.how_left"].choices
    assert {"capture", "surrender"} <= set(fields["release.how_left"].choices)
    assert fields["roles"].kind == "choices"
    # Not known is an answer: a nullable yes/no is a choice left empty, not a checkbox.
    assert fields["release.separated_from_adults"].choices == ["true", "false"]
    # The service fills these in from the caller; notes per purpose stay with the API.
    assert not {"registering_agency", "caseworker", "notes"} & set(fields)


def test_a_posted_form_becomes_the_json_body_the_service_takes():
    posted = {
        "name": ["  Amani  "],
        "date_of_birth": [""],
        "languages": ["sw, fr"],
        "roles": ["support", "other"],
        "release.date": ["2026-10-03"],
        "release.separated_from_adults": [""],
        "estimated_age": ["15"],
        "handover.from_actor": [""],
        "handover.at": ["2026-10-04T09:30"],
    }
    body = body_of(registration_fields(), posted)
    assert body == {
        "name": "Amani",
        "languages": ["sw", "fr"],
        "roles": ["support", "other"],
        "release": {"date": "2026-10-03"},
        "estimated_age": 15,
        # The form says its times are UTC.
        "handover": {"at": "2026-10-04T09:30:00Z"},
    }


def test_only_planned_dates_may_be_in_the_future():
    schemas = intake_schemas()
    fields = schemas.fields(schemas.request_model("/cases/{case_id}/interim-care") or {})
    body = {"entered_on": "2026-12-01", "planned_end_on": "2027-01-31"}
    assert dates_in_the_future(fields, body, date(2026, 11, 24)) == ["entered_on"]
    assert dates_in_the_future(fields, body, date(2026, 12, 1)) == []


def test_labels_and_choices_are_the_models_names_in_words():
    assert humanised("planned_end_on") == "Planned end on"
    assert humanised("interim-care/extension") == "Interim care: extension"
    assert humanised("true") == "Yes"
    # "Met" alone is the audit report's heading (met on a day): goals met are met in full.
    assert humanised("met") == "Met in full"


def test_an_unticked_box_is_no_where_the_model_asks_and_nothing_in_a_section_left_out():
    app = FastAPI()
    app.include_router(followup_api.router)
    schemas = Schemas(app.openapi())
    visit = schemas.fields(
        schemas.request_model("/plans/{case_id}/visits/{number}/completion") or {}
    )
    body = body_of(visit, {"attending_school": ["true"]})
    assert body["attending_school"] is True
    assert body["stigma_reported"] is False
    assert body["security_threat"] is False
    # The needs assessment a registration may leave out stays out, ticked boxes and all.
    assert "needs_assessment" not in body_of(registration_fields(), {"name": ["Amani"]})


def test_a_partners_answer_is_its_published_schema_and_a_sealed_field_is_typed_plain():
    declined = Schemas({}).fields(published_schema("org.homeward.partner.ReferralDeclined.v1"))
    # Sealed on Kafka or plain over HTTPS: the form sends the plain text; the path names the
    # referral.
    assert [(field.name, field.kind, field.required) for field in declined] == [
        ("reason", "textarea", True)
    ]
    milestone = Schemas({}).fields(published_schema("org.homeward.partner.MilestoneReported.v1"))
    assert "education_enrolled" in milestone[0].choices
    assert body_of(milestone, {"milestone": ["education_enrolled"], "detail": [""]}) == {
        "milestone": "education_enrolled"
    }
