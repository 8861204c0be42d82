from dataclasses import replace
from datetime import UTC, date, datetime
from uuid import uuid4

import pytest
from pydantic import ValidationError

from shared.consent import (
    AgeTable,
    ChildStanding,
    ConsentGiver,
    ConsentRecord,
    DataCategory,
    Objection,
    Purpose,
    current_age,
    may_share,
    shareable_categories,
)

CASE = uuid4()
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
TABLE = AgeTable()
SIXTEEN = ChildStanding(age=16)
EDUCATION = ConsentRecord(
    consent_id=uuid4(),
    case_id=CASE,
    given_by=ConsentGiver.CHILD_CONSENT,
    purpose=Purpose.EDUCATION,
    recipients=frozenset({"SCH-GOMA"}),
    categories=frozenset({DataCategory.IDENTITY}),
    given_on=date(2026, 11, 20),
    expires_on=date(2027, 11, 20),
)


def ask(consents, **changes):
    question = dict(
        case_id=CASE,
        category=DataCategory.IDENTITY,
        agency="SCH-GOMA",
        purpose=Purpose.EDUCATION,
        now=NOW,
        child=SIXTEEN,
        table=TABLE,
    )
    question.update(changes)
    return may_share(consents, **question)


def test_a_covered_share_is_allowed_and_names_its_consent():
    decision = ask([EDUCATION])
    assert decision.allowed
    assert decision.consent_ids == (EDUCATION.consent_id,)


@pytest.mark.parametrize(
    ("change", "missing"),
    [
        ({"agency": "VOC-GOMA"}, "to agency 'VOC-GOMA'"),
        ({"purpose": Purpose.LIVELIHOOD}, "purpose 'livelihood'"),
        ({"category": DataCategory.CONTACT_AND_LOCATION}, "category 'contact_and_location'"),
        ({"case_id": uuid4()}, "no valid consent"),
        ({"now": datetime(2027, 11, 21, tzinfo=UTC)}, "no valid consent"),  # expired
        ({"now": datetime(2026, 11, 19, tzinfo=UTC)}, "no valid consent"),  # not yet given
    ],
)
def test_anything_the_consent_does_not_cover_is_refused_saying_what_is_missing(change, missing):
    decision = ask([EDUCATION], **change)
    assert not decision
    assert missing in decision.reason


def test_a_withdrawal_ends_the_consent_as_soon_as_it_is_seen():
    withdrawn = replace(EDUCATION, withdrawn_at=datetime(2026, 11, 23, 13, 0, tzinfo=UTC))
    assert not ask([withdrawn])  # even if the withdrawal's clock is ahead of ours


def test_sexual_violence_data_goes_only_where_it_is_named():
    assert not ask([EDUCATION], category=DataCategory.SEXUAL_VIOLENCE)
    named = replace(EDUCATION, categories=frozenset({DataCategory.SEXUAL_VIOLENCE}))
    assert ask([named], category=DataCategory.SEXUAL_VIOLENCE)


def test_each_category_gets_its_own_decision():
    decisions = shareable_categories(
        [EDUCATION],
        case_id=CASE,
        agency="SCH-GOMA",
        purpose=Purpose.EDUCATION,
        now=NOW,
        categories=[DataCategory.IDENTITY, DataCategory.FAMILY],
        child=SIXTEEN,
        table=TABLE,
    )
    assert [bool(d) for d in decisions.values()] == [True, False]


def test_media_is_denied_without_a_consent_for_media_naming_the_rule():
    decision = ask([EDUCATION], purpose=Purpose.MEDIA)
    assert not decision
    assert "no publicity without explicit consent" in decision.reason
    assert "Paris Commitments 13" in decision.reason
    media = replace(EDUCATION, consent_id=uuid4(), purpose=Purpose.MEDIA)
    assert ask([EDUCATION, media], purpose=Purpose.MEDIA).consent_ids == (media.consent_id,)


def test_statistics_never_carry_identity_whatever_a_consent_says():
    counted = replace(EDUCATION, purpose=Purpose.STATISTICS)
    decision = ask([counted], purpose=Purpose.STATISTICS)
    assert not decision
    assert "statistics and monitoring carry no one's identity" in decision.reason
    schooling = replace(counted, categories=frozenset({DataCategory.EDUCATION}))
    assert ask([schooling], purpose=Purpose.STATISTICS, category=DataCategory.EDUCATION)


def test_association_goes_to_legal_aid_only_whatever_a_consent_says():
    named = replace(EDUCATION, categories=frozenset({DataCategory.ASSOCIATION}))
    decision = ask([named], category=DataCategory.ASSOCIATION)
    assert not decision
    assert "association data only for legal aid" in decision.reason
    legal = replace(named, purpose=Purpose.LEGAL_AID)
    assert ask([legal], category=DataCategory.ASSOCIATION, purpose=Purpose.LEGAL_AID)


# --- the age table, on the child's current age --------------------------------------------

ASSENT, OWN = ConsentGiver.CHILD_ASSENT, ConsentGiver.CHILD_CONSENT
CAREGIVER, BEST_INTERESTS = ConsentGiver.CAREGIVER_CONSENT, ConsentGiver.BEST_INTERESTS_DECISION


def given(*givers: ConsentGiver) -> list[ConsentRecord]:
    return [replace(EDUCATION, consent_id=uuid4(), given_by=giver) for giver in givers]


# age, who gave consent (assent among them), maturity assessed: allowed?
AGE_TABLE_CASES = [
    (5, (CAREGIVER,), False, True),
    (5, (BEST_INTERESTS,), False, True),
    (5, (ASSENT,), False, False),
    (6, (CAREGIVER,), False, False),  # from 6 the child's assent is needed too
    (6, (ASSENT, CAREGIVER), False, True),
    (6, (ASSENT, BEST_INTERESTS), False, True),
    (11, (ASSENT, CAREGIVER), False, True),
    (11, (OWN,), True, False),  # under 12 no one consents alone, mature or not
    (11, (ASSENT,), False, False),
    (12, (ASSENT, CAREGIVER), False, True),
    (12, (CAREGIVER,), False, False),
    (12, (OWN,), False, False),  # own consent needs a maturity assessment at 12-14
    (12, (OWN,), True, True),
    (14, (OWN,), True, True),
    (13, (OWN, CAREGIVER), False, True),  # the child's own consent says what an assent says
    (14, (ASSENT, BEST_INTERESTS), False, True),
    (15, (OWN,), False, True),
    (15, (CAREGIVER,), False, False),  # a caregiver alone is not enough from 15
    (15, (ASSENT, CAREGIVER), False, False),
    (15, (BEST_INTERESTS,), False, False),
    (17, (OWN, CAREGIVER), False, True),
    (18, (OWN,), False, True),
    (18, (CAREGIVER,), False, False),  # lapsed at 18
    (18, (ASSENT, BEST_INTERESTS), False, False),
]


@pytest.mark.parametrize(("age", "givers", "mature", "allowed"), AGE_TABLE_CASES)
def test_the_age_table_decides_whose_consent_counts(age, givers, mature, allowed):
    child = ChildStanding(age=age, maturity_assessed=mature)
    decision = ask(given(*givers), child=child)
    assert decision.allowed is allowed
    if not allowed:
        assert "who decides by age" in decision.reason or "no valid consent" in decision.reason
        assert f"the child is {age}" in decision.reason or "no valid consent" in decision.reason


def test_a_refusal_under_the_age_table_says_who_must_decide():
    decision = ask(given(CAREGIVER), child=ChildStanding(age=16))
    assert "at 15-17, the child's own consent" in decision.reason
    assert "has only caregiver_consent" in decision.reason


def test_an_allowed_share_names_every_consent_it_rests_on():
    assent, caregiver = given(ASSENT, CAREGIVER)
    decision = ask([assent, caregiver], child=ChildStanding(age=8))
    assert set(decision.consent_ids) == {assent.consent_id, caregiver.consent_id}


def test_a_programme_sets_its_own_age_table(monkeypatch):
    monkeypatch.setenv("HOMEWARD_PROGRAMME_OWN_CONSENT_AGE", "16")
    programme = AgeTable()
    assert ask(given(CAREGIVER, ASSENT), child=ChildStanding(age=15), table=programme)
    assert not ask(given(CAREGIVER, ASSENT), child=ChildStanding(age=15))
    monkeypatch.setenv("HOMEWARD_PROGRAMME_MATURE_CONSENT_AGE", "17")
    with pytest.raises(ValidationError, match="ages must not decrease"):
        AgeTable()


@pytest.mark.parametrize(
    ("today", "age"),
    [
        (date(2026, 6, 14), 11),
        (date(2026, 6, 15), 12),  # the 12th birthday
        (date(2029, 6, 14), 14),
        (date(2029, 6, 15), 15),  # the 15th birthday
        (date(2032, 6, 15), 18),  # the 18th birthday
    ],
)
def test_the_age_is_todays_from_the_date_of_birth(today, age):
    born = date(2014, 6, 15)
    assert (
        current_age(
            today,
            date_of_birth=born,
            estimated_age=9,
            estimated_on=date(2020, 1, 1),
            assessed_adult=False,
        )
        == age
    )


def test_without_a_date_of_birth_the_estimate_ages_with_time_and_an_adult_finding_counts():
    def age(today, assessed_adult=False):
        return current_age(
            today,
            date_of_birth=None,
            estimated_age=11,
            estimated_on=date(2026, 3, 1),
            assessed_adult=assessed_adult,
        )

    assert age(date(2026, 11, 23)) == 11
    assert age(date(2027, 3, 1)) == 12  # a year after the estimate
    assert age(date(2029, 11, 23)) == 14
    assert age(date(2026, 11, 23), assessed_adult=True) == 18


def test_the_childs_objection_blocks_the_disclosure_whatever_was_given():
    objection = Objection(uuid4(), None, frozenset({"SCH-GOMA"}), frozenset())
    decision = ask([EDUCATION], child=ChildStanding(age=16, objections=(objection,)))
    assert not decision
    assert "the child's objection blocks the disclosure" in decision.reason
    elsewhere = Objection(uuid4(), Purpose.HEALTH, frozenset(), frozenset())
    assert ask([EDUCATION], child=ChildStanding(age=16, objections=(elsewhere,)))
    other_data = Objection(uuid4(), None, frozenset(), frozenset({DataCategory.FAMILY}))
    assert ask([EDUCATION], child=ChildStanding(age=16, objections=(other_data,)))
