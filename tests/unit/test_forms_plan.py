"""Follow-up's forms on a plan: which the case page offers, by the plan's own state."""

from services.web.pages import plan_allows, plan_shown

PLAN = {
    "cancelled": False,
    "visits": [
        {"number": 1, "due_on": "2026-10-26", "status": "completed"},
        {"number": 2, "due_on": "2026-11-11", "status": "missed"},
        {"number": 3, "due_on": "2027-01-11", "status": "scheduled"},
    ],
}


def test_a_visit_is_recorded_while_it_is_due_and_marked_missed_only_while_scheduled():
    assert not plan_allows("visits/1/completion", PLAN)
    assert plan_allows("visits/2/completion", PLAN)
    assert not plan_allows("visits/2/missed", PLAN)
    assert plan_allows("visits/3/missed", PLAN)
    assert not plan_allows("visits/9/completion", PLAN)  # no such visit
    assert plan_allows("risk", PLAN)


def test_a_cancelled_plan_takes_no_form():
    cancelled = {**PLAN, "cancelled": True}
    assert not plan_allows("risk", cancelled)
    assert not plan_allows("visits/3/completion", cancelled)
    assert plan_shown(cancelled)["forms"] == []
    assert all(visit["forms"] == [] for visit in plan_shown(cancelled)["visits"])


def test_the_case_page_lists_each_visits_forms_and_the_plans():
    shown = plan_shown(PLAN)
    assert [visit["forms"] for visit in shown["visits"]] == [
        [],
        [("visits/2/completion", "Record this visit")],
        [("visits/3/completion", "Record this visit"), ("visits/3/missed", "Missed visit")],
    ]
    assert shown["forms"] == [("risk", "Follow-up risk review"), ("review", "Reintegration review")]
