"""The README's consent tables are the enforced ones: each row is made here from the code."""

from pathlib import Path

import pytest

from services.referral.domain import SERVICE_PURPOSES
from services.referral.sharing import CATEGORY_FIELDS, WrittenField
from shared.consent import AgeTable

README = (Path(__file__).parents[2] / "README.md").read_text()


def purpose_rows() -> list[str]:
    return [
        f"| `{service}` | " + ", ".join(f"`{p}`" for p in sorted(purposes)) + " |"
        for service, purposes in SERVICE_PURPOSES.items()
    ]


def category_rows() -> list[str]:
    def shown(name: str) -> str:
        return f"`{name}` (written)" if name in set(WrittenField) else f"`{name}`"

    return [
        f"| `{category}` | " + ", ".join(shown(name) for name in names) + " |"
        for category, names in CATEGORY_FIELDS.items()
    ]


def age_rows() -> list[str]:
    table = AgeTable()
    return [
        f"| {table.who_decides(age)} |"
        for age in (0, table.assent_age, table.mature_consent_age, table.own_consent_age, 18)
    ]


@pytest.mark.parametrize("row", purpose_rows() + category_rows() + age_rows())
def test_the_readme_shows_the_enforced_row(row):
    assert row in README
