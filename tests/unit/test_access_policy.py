"""The access policy: every role, every action, on its own agency's resource and another's."""

import itertools
from typing import Annotated

import pytest
from fastapi import Depends, FastAPI, HTTPException
from fastapi.testclient import TestClient

from shared.access import (
    Action,
    Caller,
    Grant,
    Outcome,
    Role,
    decide,
    decide_approval,
    permission,
)
from shared.auth import PUBLIC, enforce, requires, route_requirements
from shared.tokens import TokenVerifier
from tests.signin import app_behind, local_settings, local_token

OWN_AGENCY, OTHER_AGENCY = "CD-KIN", "CD-GOM"

# The issue's words, written out on their own rather than read from shared.access.
CASEWORK = {
    Action.REGISTER_CASE,
    Action.READ_CASE,
    Action.LIST_CASES,
    Action.RECORD_STEP,
    Action.READ_PERSONAL_DATA,
    Action.READ_SEXUAL_VIOLENCE,
    Action.MAKE_REFERRAL,
    Action.READ_REFERRAL,
    Action.READ_STATISTICS,
}
SUPERVISION = {
    Action.APPROVE,
    Action.DECIDE_BEST_INTERESTS,
    Action.REASSIGN_CASE,
    Action.ERASE_CASE,
    Action.READ_REPORTS,  # issue 21: supervisors for their agency
}
WITHIN_OWN_AGENCY: dict[Role, set[Action]] = {
    Role.CASEWORKER: CASEWORK,
    Role.SUPERVISOR: CASEWORK | SUPERVISION,
    Role.PARTNER: {Action.READ_REFERRAL_AS_PARTNER, Action.ANSWER_REFERRAL},
    Role.AUDITOR: set(),
    Role.PROGRAMME_MANAGER: set(),
    Role.ADMIN: set(),
}
ACROSS_AGENCIES: dict[Role, set[Action]] = {
    Role.CASEWORKER: {Action.READ_PARTNERS},
    Role.SUPERVISOR: {Action.READ_PARTNERS, Action.BREAK_GLASS},
    Role.PARTNER: set(),
    Role.AUDITOR: {
        Action.READ_CASE,
        Action.LIST_CASES,
        Action.READ_HISTORY,
        Action.CHECK_INTEGRITY,
        Action.READ_STATISTICS,
        Action.READ_REPORTS,  # issue 21: auditors across agencies, never partners
        Action.READ_PERSONAL_DATA,
        Action.READ_SEXUAL_VIOLENCE,
    },
    # issue 21: programme managers read reports (and stage counts) across agencies, no case.
    Role.PROGRAMME_MANAGER: {Action.READ_REPORTS, Action.READ_STATISTICS},
    Role.ADMIN: {
        Action.REGISTER_PARTNER,
        Action.READ_PARTNERS,
        Action.MANAGE_ROLES,
        Action.MANAGE_KEYS,
        Action.VIEW_HEALTH_DETAILS,
    },
}
BOTH_GRANTS = frozenset(Grant)


def caller(role: Role, *, sub: str = "someone", grants: frozenset[Grant] = BOTH_GRANTS) -> Caller:
    return Caller(sub=sub, role=role, agency=OWN_AGENCY, grants=grants)


def expected(role: Role, action: Action, agency: str) -> Outcome:
    if action in ACROSS_AGENCIES[role]:
        return Outcome.ALLOWED
    if action not in WITHIN_OWN_AGENCY[role]:
        return Outcome.FORBIDDEN
    return Outcome.ALLOWED if agency == OWN_AGENCY else Outcome.NOT_FOUND


@pytest.mark.parametrize(
    ("role", "action", "agency"),
    list(itertools.product(Role, Action, [OWN_AGENCY, OTHER_AGENCY])),
    ids=lambda value: str(value),
)
def test_every_role_and_action_on_its_own_and_another_agency(role, action, agency):
    decision = decide(caller(role), action, agency)

    assert decision.outcome is expected(role, action, agency)
    assert decision.action is action
    if decision.outcome is Outcome.FORBIDDEN:
        assert str(action) in decision.reason, "a refusal names the permission"


def test_the_issue_roles_in_a_sentence_each():
    def allowed(role, action, agency=OWN_AGENCY):
        return decide(caller(role), action, agency).allowed

    assert allowed(Role.CASEWORKER, Action.RECORD_STEP)
    assert not allowed(Role.CASEWORKER, Action.RECORD_STEP, OTHER_AGENCY)
    assert not allowed(Role.CASEWORKER, Action.APPROVE)
    assert allowed(Role.SUPERVISOR, Action.ERASE_CASE)
    assert not allowed(Role.PARTNER, Action.READ_CASE), "never the case file"
    assert allowed(Role.PARTNER, Action.ANSWER_REFERRAL)
    assert not allowed(Role.PARTNER, Action.ANSWER_REFERRAL, OTHER_AGENCY)
    assert allowed(Role.AUDITOR, Action.READ_HISTORY, OTHER_AGENCY)
    assert not allowed(Role.AUDITOR, Action.RECORD_STEP)
    assert not any(allowed(Role.ADMIN, action) for action in CASEWORK), "no case content"
    assert allowed(Role.ADMIN, Action.REGISTER_PARTNER, OTHER_AGENCY)


def test_another_agency_s_case_is_not_found_never_forbidden():
    decision = decide(caller(Role.SUPERVISOR), Action.ERASE_CASE, OTHER_AGENCY)

    assert decision.outcome is Outcome.NOT_FOUND


def test_an_auditor_reads_personal_fields_only_with_the_grant():
    without = caller(Role.AUDITOR, grants=frozenset())
    decision = decide(without, Action.READ_PERSONAL_DATA, OTHER_AGENCY)

    assert decision.outcome is Outcome.FORBIDDEN
    assert "personal-data grant" in decision.reason
    assert decide(without, Action.READ_HISTORY, OTHER_AGENCY).allowed


def test_sexual_violence_needs_its_own_grant_not_the_personal_data_one():
    personal_only = caller(Role.AUDITOR, grants=frozenset({Grant.PERSONAL_DATA}))
    violence_only = caller(Role.AUDITOR, grants=frozenset({Grant.SEXUAL_VIOLENCE}))

    refused = decide(personal_only, Action.READ_SEXUAL_VIOLENCE, OWN_AGENCY)
    assert refused.outcome is Outcome.FORBIDDEN
    assert "sexual-violence grant" in refused.reason
    assert decide(personal_only, Action.READ_PERSONAL_DATA, OWN_AGENCY).allowed
    assert decide(violence_only, Action.READ_SEXUAL_VIOLENCE, OWN_AGENCY).allowed
    assert not decide(violence_only, Action.READ_PERSONAL_DATA, OWN_AGENCY).allowed


def test_grants_widen_nothing_for_other_roles():
    caseworker = caller(Role.CASEWORKER, grants=BOTH_GRANTS)

    decision = decide(caseworker, Action.READ_PERSONAL_DATA, OTHER_AGENCY)

    assert decision.outcome is Outcome.NOT_FOUND


def test_a_resource_of_no_agency_needs_an_action_held_across_agencies():
    assert decide(caller(Role.ADMIN), Action.REGISTER_PARTNER, None).allowed
    refused = decide(caller(Role.CASEWORKER), Action.LIST_CASES, None)
    assert refused.outcome is Outcome.FORBIDDEN
    assert OWN_AGENCY in refused.reason


def test_permission_alone_ignores_the_resource():
    assert permission(caller(Role.CASEWORKER), Action.READ_CASE).allowed
    assert permission(caller(Role.ADMIN), Action.READ_CASE).outcome is Outcome.FORBIDDEN


class TestFourEyes:
    def test_an_approval_from_the_person_who_asked_is_refused(self):
        supervisor = caller(Role.SUPERVISOR, sub="sv-0007")

        decision = decide_approval(supervisor, OWN_AGENCY, requested_by="sv-0007")

        assert decision.outcome is Outcome.FORBIDDEN
        assert "someone other than the person who asked" in decision.reason

    def test_another_supervisor_approves(self):
        supervisor = caller(Role.SUPERVISOR, sub="sv-0007")

        assert decide_approval(supervisor, OWN_AGENCY, requested_by="cw-0412").allowed

    def test_a_caseworker_cannot_approve_even_someone_else_s_request(self):
        decision = decide_approval(caller(Role.CASEWORKER), OWN_AGENCY, requested_by="cw-9")

        assert decision.outcome is Outcome.FORBIDDEN

    def test_another_agency_s_request_is_not_found_before_anything_else(self):
        supervisor = caller(Role.SUPERVISOR, sub="sv-0007")

        decision = decide_approval(supervisor, OTHER_AGENCY, requested_by="sv-0007")

        assert decision.outcome is Outcome.NOT_FOUND


class TestAtTheHttpEdge:
    @pytest.fixture
    def settings(self, tmp_path):  # overrides the suite's, which starts Kafka
        return local_settings(tmp_path)

    def test_an_action_the_role_does_not_hold_is_403_naming_it(self, settings):
        client = TestClient(app_behind(TokenVerifier(settings), Action.APPROVE))
        token = local_token(settings, Role.CASEWORKER)

        response = client.get("/whoami", headers={"Authorization": f"Bearer {token}"})

        assert response.status_code == 403
        assert "approve" in response.json()["detail"]

    def test_a_held_action_lets_the_caller_in(self, settings):
        client = TestClient(app_behind(TokenVerifier(settings), Action.APPROVE))
        token = local_token(settings, Role.SUPERVISOR, sub="sv-0007")

        response = client.get("/whoami", headers={"Authorization": f"Bearer {token}"})

        assert response.status_code == 200
        assert response.json()["sub"] == "sv-0007"

    def test_out_of_scope_answers_exactly_like_a_missing_resource(self):
        supervisor = caller(Role.SUPERVISOR)
        missing = "No case 3f2a."

        with pytest.raises(HTTPException) as refused:
            enforce(decide(supervisor, Action.READ_CASE, OTHER_AGENCY), not_found=missing)

        assert (refused.value.status_code, refused.value.detail) == (404, missing)

    def test_an_allowed_decision_raises_nothing(self):
        enforce(decide(caller(Role.SUPERVISOR), Action.READ_CASE, OWN_AGENCY))


class TestRouteRequirements:
    @pytest.fixture
    def app(self, tmp_path) -> FastAPI:
        app = app_behind(TokenVerifier(local_settings(tmp_path)), Action.READ_HISTORY)

        @app.post("/forgotten")
        def forgotten() -> None:
            return None

        @app.post("/both")
        def both(
            caller: Annotated[Caller, Depends(requires(Action.READ_CASE))],
            _also: Annotated[Caller, Depends(requires(Action.READ_PERSONAL_DATA))],
        ) -> None:
            return None

        return app

    def test_each_route_shows_what_it_declares(self, app):
        requirements = route_requirements(app)

        assert requirements["GET /whoami"] == {Action.READ_HISTORY}
        assert requirements["GET /open"] == {PUBLIC}
        assert requirements["POST /both"] == {Action.READ_CASE, Action.READ_PERSONAL_DATA}
        assert requirements["GET /openapi.json"] == {PUBLIC}

    def test_a_route_that_declares_nothing_is_found(self, app):
        requirements = route_requirements(app)

        undeclared = [route for route, declared in requirements.items() if not declared]

        assert undeclared == ["POST /forgotten"]
