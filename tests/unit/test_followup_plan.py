from datetime import date
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
)

RETURNED = date(2026, 1, 10)


def plan(risk=None) -> FollowUpPlan:
    return FollowUpPlan.start(uuid4(), RETURNED, ReturnKind.REUNIFIED, "cw-7", risk, Schedule())


def findings(**changes) -> VisitFindings:
    values = dict(
        visited_on=date(2026, 1, 24),
        visited_by="cw-7",
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
    followed.complete_visit(1, findings(re_recruitment_threat=True), date(2026, 2, 1))
    assert followed.alerts == ["re_recruitment_threat"]
    assert followed.visits[1].status == "completed"


def test_poor_wellbeing_raises_the_risk_and_alerts():
    followed = plan()
    followed.complete_visit(1, findings(wellbeing=Rating.POOR), date(2026, 2, 1))
    assert followed.risk == RiskLevel.HIGH
    assert followed.alerts == ["high_risk"]


def test_a_visit_is_recorded_once_and_not_in_the_future_or_before_the_return():
    followed = plan()
    with pytest.raises(InvalidVisitData, match="future"):
        followed.complete_visit(1, findings(visited_on=date(2026, 3, 1)), date(2026, 2, 1))
    with pytest.raises(InvalidVisitData, match="before the child's return"):
        followed.complete_visit(1, findings(visited_on=date(2026, 1, 1)), date(2026, 2, 1))
    followed.miss_visit(1, "family away at the market")
    with pytest.raises(FollowUpRuleViolation, match="already missed"):
        followed.miss_visit(1, "again")
    followed.complete_visit(1, findings(), date(2026, 2, 1))  # late, but done
    assert followed.visits[1].status == "completed"
    with pytest.raises(FollowUpRuleViolation, match="already completed"):
        followed.complete_visit(1, findings(), date(2026, 2, 1))
    with pytest.raises(FollowUpRuleViolation, match="no visit 99"):
        followed.miss_visit(99, "x")


def test_closure_is_recommended_when_goals_are_met_after_stable_visits():
    followed = plan()
    followed.review(GoalsMet.MET, "sup-1")
    assert not followed.closure_recommended  # no visits yet
    followed.complete_visit(1, findings(), date(2026, 2, 1))
    followed.complete_visit(2, findings(visited_on=date(2026, 2, 9)), date(2026, 2, 10))
    assert followed.closure_recommended


def test_the_case_risk_set_by_intake_is_noted_without_echoing_an_alert():
    followed = plan()
    assert followed.note_case_risk(RiskLevel.HIGH)
    assert not followed.note_case_risk(RiskLevel.HIGH)
    assert followed.alerts == []
