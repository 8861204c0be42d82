import pytest

from shared.protections import Displacement, PartnerKind, never_recipient, refoulement_risk

AUTHORITY = PartnerKind.GOVERNMENT_AUTHORITY


@pytest.mark.parametrize("kind", list(PartnerKind))
def test_only_security_armed_intelligence_and_prosecution_bodies_are_never_recipients(kind):
    refused = never_recipient(kind)
    never = {"armed_forces", "police_security", "intelligence", "prosecution"}
    assert (refused is not None) == (kind in never)
    if refused:
        assert "Paris Commitments 10-11" in refused


@pytest.mark.parametrize(
    ("kind", "country", "nationality", "displacement", "refused"),
    [
        (AUTHORITY, "SS", "SS", Displacement.REFUGEE, True),
        (AUTHORITY, "SS", "SS", Displacement.ASYLUM_SEEKER, True),
        (AUTHORITY, "SS", None, Displacement.REFUGEE, True),  # any country may be the origin
        (AUTHORITY, "CD", "SS", Displacement.REFUGEE, False),  # the host country's authority
        (AUTHORITY, "CD", "CD", Displacement.INTERNALLY_DISPLACED, False),  # still at home
        (AUTHORITY, "SS", "SS", None, False),  # displacement unrecorded: not known outside
        (PartnerKind.SCHOOL, "SS", "SS", Displacement.REFUGEE, False),
    ],
)
def test_non_refoulement_keeps_the_country_of_origin_authorities_away(
    kind, country, nationality, displacement, refused
):
    risk = refoulement_risk(kind, country, nationality, displacement)
    assert (risk is not None) == refused
    if risk:
        assert "non-refoulement" in risk
