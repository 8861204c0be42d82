from datetime import date, timedelta
from uuid import uuid4

import pytest

from services.followup.domain import (
    FollowUpPlan,
    FollowUpRuleViolation,
    GoalsMet,
    InvalidVisitData,
    Rating,
    ReturnKind,
    RiskLevel,
    Schedule,
    VisitFindings,
    VisitMode,
)

RETURNED = date(2026, 1, 10)


SCHEDULE = Schedule()


def plan(risk=None) -> FollowUpPlan:
    return FollowUpPlan.start(uuid4(), RETURNED, ReturnKind.REUNIFIED, "cw-7", risk, SCHEDULE)


def findings(**changes) -> VisitFindings:
    values = dict(
        visited_on=date(2026, 1, 24),
        visited_by="cw-7",
        mode=VisitMode.HOME,
        wellbeing=Rating.GOOD,
        attending_school=True,
        livelihood_status="none yet",
        family_acceptance=Rating.GOOD,
        community_acceptance=Rating.FAIR,
        stigma_reported=False,
        security_threat=False,
        re_recruitment_threat=False,
    )
    values.update(changes)
    return VisitFindings(**values)


def test_visits_follow_the_standard_schedule_from_the_return_date():
    due = [visit.due_on for visit in plan().visits.values()]
    assert due[0] == date(2026, 1, 24)  # two weeks
    assert due[-1] == date(2028, 1, 10)  # 24 months
    assert len(due) == 7


def test_a_high_risk_child_is_visited_earlier_and_more_often():
    high = plan(RiskLevel.HIGH)
    assert len(high.visits) > len(plan().visits)
    assert min(v.due_on for v in high.visits.values()) == date(2026, 1, 17)
    assert high.risk == RiskLevel.HIGH


def test_a_re_recruitment_threat_raises_an_alert():
    followed = plan()
    followed.complete_visit(1, findings(re_recruitment_threat=True), date(2026, 2, 1), SCHEDULE)
    assert followed.alerts == ["re_recruitment_threat"]
    assert followed.visits[1].status == "completed"


def test_poor_wellbeing_raises_the_risk_and_alerts():
    followed = plan()
    followed.complete_visit(1, findings(wellbeing=Rating.POOR), date(2026, 2, 1), SCHEDULE)
    assert followed.risk == RiskLevel.HIGH
    assert followed.alerts == ["high_risk"]


def test_a_visit_is_recorded_once_and_not_in_the_future_or_before_the_return():
    followed = plan()
    with pytest.raises(InvalidVisitData, match="future"):
        followed.complete_visit(
            1, findings(visited_on=date(2026, 3, 1)), date(2026, 2, 1), SCHEDULE
        )
    with pytest.raises(InvalidVisitData, match="before the child's return"):
        followed.complete_visit(
            1, findings(visited_on=date(2026, 1, 1)), date(2026, 2, 1), SCHEDULE
        )
    followed.miss_visit(1, "family away at the market")
    with pytest.raises(FollowUpRuleViolation, match="already missed"):
        followed.miss_visit(1, "again")
    followed.complete_visit(1, findings(), date(2026, 2, 1), SCHEDULE)  # late, but done
    assert followed.visits[1].status == "completed"
    with pytest.raises(FollowUpRuleViolation, match="already completed"):
        followed.complete_visit(1, findings(), date(2026, 2, 1), SCHEDULE)
    with pytest.raises(FollowUpRuleViolation, match="no visit 99"):
        followed.miss_visit(99, "x")


def test_closure_is_recommended_when_goals_are_met_after_stable_visits():
    followed = plan()
    followed.review(GoalsMet.MET, "sup-1")
    assert not followed.closure_recommended  # no visits yet
    followed.complete_visit(1, findings(), date(2026, 2, 1), SCHEDULE)
    followed.complete_visit(2, findings(visited_on=date(2026, 2, 9)), date(2026, 2, 10), SCHEDULE)
    assert followed.closure_recommended


def test_the_case_risk_set_by_intake_is_noted_without_echoing_an_alert():
    followed = plan()
    assert followed.note_case_risk(RiskLevel.HIGH, date(2026, 2, 1), SCHEDULE)
    assert not followed.note_case_risk(RiskLevel.HIGH, date(2026, 2, 1), SCHEDULE)
    assert followed.alerts == []


def test_closure_is_not_recommended_while_the_last_visits_found_poor_acceptance():
    followed = plan()
    followed.review(GoalsMet.MET, "sup-1")
    poor = findings(family_acceptance=Rating.POOR, community_acceptance=Rating.POOR)
    followed.complete_visit(1, poor, date(2026, 2, 1), SCHEDULE)
    followed.complete_visit(2, findings(visited_on=date(2026, 2, 9)), date(2026, 2, 10), SCHEDULE)
    assert not followed.closure_recommended  # visit 1 found the family and village rejecting
    followed.complete_visit(3, findings(visited_on=date(2026, 3, 9)), date(2026, 3, 10), SCHEDULE)
    assert followed.closure_recommended


def test_a_risk_raised_later_brings_the_high_risk_visits_from_then_on():
    followed = plan()
    standard = {visit.due_on for visit in followed.visits.values()}
    today = RETURNED + timedelta(days=20)
    followed.note_case_risk(RiskLevel.HIGH, today, SCHEDULE)
    added = {visit.due_on for visit in followed.visits.values()} - standard
    expected = {RETURNED + timedelta(days=d) for d in SCHEDULE.high_risk if d > 20} - standard
    assert added == expected
    assert all(due > today for due in added)
    numbers = sorted(followed.visits)
    assert numbers == list(range(1, len(numbers) + 1))


def test_the_visits_still_due_follow_the_case_to_its_new_caseworker():
    followed = plan()
    assert followed.reassign("cw-8")
    assert not followed.reassign("cw-8")
    assert followed.caseworker == "cw-8"


def test_a_breakdown_calls_off_the_visits_due_and_the_next_return_rebases_the_plan():
    followed = plan()
    followed.complete_visit(1, findings(), RETURNED + timedelta(days=14), SCHEDULE)
    broke_down_on = RETURNED + timedelta(days=40)
    assert followed.note_breakdown(broke_down_on, "family_rejection")
    assert not followed.note_breakdown(broke_down_on, "family_rejection")  # noted once
    assert followed.visits[1].status == "completed"  # what was done stays done
    assert {v.status for n, v in followed.visits.items() if n > 1} == {"called_off"}
    with pytest.raises(FollowUpRuleViolation):
        followed.complete_visit(2, findings(), broke_down_on, SCHEDULE)
    # No closer visits at the home the child left, whatever the risk.
    before = len(followed.visits)
    followed.note_case_risk(RiskLevel.HIGH, broke_down_on, SCHEDULE)
    assert len(followed.visits) == before

    placed_on = broke_down_on + timedelta(days=10)
    assert followed.rebase(placed_on, ReturnKind.ALTERNATIVE_CARE, SCHEDULE)
    assert (followed.returned_on, followed.return_kind) == (placed_on, "alternative_care")
    new = [v for v in followed.visits.values() if v.status == "scheduled"]
    # The plan's risk is high now: the high-risk schedule, from the new return.
    assert [v.due_on for v in new] == [placed_on + timedelta(days=d) for d in SCHEDULE.high_risk]
    assert [v.number for v in new] == list(range(before + 1, before + 1 + len(new)))
    # Another return without a breakdown changes nothing: one plan, one schedule.
    assert not followed.rebase(placed_on, ReturnKind.REUNIFIED, SCHEDULE)


def test_a_breakdown_withdraws_the_closure_recommendation_and_only_visits_since_count():
    followed = plan()
    followed.review(GoalsMet.MET, "sup-1")
    followed.complete_visit(1, findings(), date(2026, 2, 1), SCHEDULE)
    followed.complete_visit(2, findings(visited_on=date(2026, 2, 9)), date(2026, 2, 10), SCHEDULE)
    assert followed.closure_recommended
    broke_down_on = date(2026, 3, 1)
    followed.note_breakdown(broke_down_on, "family_rejection")
    assert not followed.closure_recommended
    followed.review(GoalsMet.MET, "sup-1")
    assert not followed.closure_recommended  # no home to judge until the child returns
    placed_on = date(2026, 3, 20)
    followed.rebase(placed_on, ReturnKind.ALTERNATIVE_CARE, SCHEDULE)
    followed.review(GoalsMet.MET, "sup-1")
    assert not followed.closure_recommended  # the two stable visits were at the old home
    first, second = sorted(n for n, v in followed.visits.items() if v.status == "scheduled")[:2]
    followed.complete_visit(
        first, findings(visited_on=date(2026, 4, 3)), date(2026, 4, 4), SCHEDULE
    )
    followed.review(GoalsMet.MET, "sup-1")
    assert not followed.closure_recommended  # one visit since the new return
    followed.complete_visit(
        second, findings(visited_on=date(2026, 4, 19)), date(2026, 4, 20), SCHEDULE
    )
    assert followed.closure_recommended
