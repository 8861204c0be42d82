from dataclasses import replace
from datetime import UTC, date, datetime
from uuid import uuid4

import pytest

from shared.consent import (
    ConsentGiver,
    ConsentRecord,
    DataCategory,
    Purpose,
    may_share,
    shareable_categories,
)

CASE = uuid4()
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
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
    )
    question.update(changes)
    return may_share(consents, **question)


def test_a_covered_share_is_allowed_and_names_its_consent():
    decision = ask([EDUCATION])
    assert decision.allowed
    assert decision.consent_id == EDUCATION.consent_id


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
    )
    assert [bool(d) for d in decisions.values()] == [True, False]


def test_a_childs_assent_alone_never_authorises_a_share():
    assent = replace(EDUCATION, given_by=ConsentGiver.CHILD_ASSENT)
    assert not ask([assent])
    caregiver = replace(EDUCATION, consent_id=uuid4(), given_by=ConsentGiver.CAREGIVER_CONSENT)
    assert ask([assent, caregiver]).consent_id == caregiver.consent_id


def test_media_is_denied_without_a_consent_for_media_naming_the_rule():
    decision = ask([EDUCATION], purpose=Purpose.MEDIA)
    assert not decision
    assert "no publicity without explicit consent" in decision.reason
    assert "Paris Commitments 13" in decision.reason
    media = replace(EDUCATION, consent_id=uuid4(), purpose=Purpose.MEDIA)
    assert ask([EDUCATION, media], purpose=Purpose.MEDIA).consent_id == media.consent_id


def test_statistics_never_carry_identity_whatever_a_consent_says():
    counted = replace(EDUCATION, purpose=Purpose.STATISTICS)
    decision = ask([counted], purpose=Purpose.STATISTICS)
    assert not decision
    assert "statistics and monitoring carry no one's identity" in decision.reason
    schooling = replace(counted, categories=frozenset({DataCategory.EDUCATION}))
    assert ask([schooling], purpose=Purpose.STATISTICS, category=DataCategory.EDUCATION)
