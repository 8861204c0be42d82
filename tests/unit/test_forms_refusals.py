"""The services' refusals read in the user's language: every sentence the domains can refuse
with is one the forms know, and a fact about a field shows beside that field."""

import ast
from pathlib import Path
from uuid import uuid4

import pytest

from services.followup.domain import PlanNotFound
from services.intake.domain import CaseNotFound
from services.referral.domain import ReferralNotFound
from services.web.errors import UNKNOWN_REFUSAL, field_problems, refusal_in_words
from services.web.i18n import languages
from shared.access import Action, Caller, Role, decide, decide_approval

ROOT = Path(__file__).parents[2]
# Where the services refuse a command: their domains and the applications that load them.
REFUSING = (
    "services/intake/domain/case.py",
    "services/intake/app.py",
    "services/followup/domain.py",
    "services/followup/app.py",
    "services/referral/domain.py",
    "services/referral/app.py",
)
SAMPLE = "x1"  # what a value the sentence names reads as in a sample


def sample(node: ast.expr) -> str:
    """The sentence a refusal's message makes, each value it puts in read as SAMPLE."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            SAMPLE if isinstance(part, ast.FormattedValue) else sample(part) for part in node.values
        )
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return sample(node.left) + sample(node.right)
    return SAMPLE


def raised_sentences() -> list[tuple[str, str]]:
    found = []
    for path in REFUSING:
        for node in ast.walk(ast.parse((ROOT / path).read_text())):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args:
                found.append((f"{path}:{node.lineno}", sample(node.exc.args[0])))
    # Sentences passed on whole (a NotFound's id, a list already written) are no sentence.
    return [(where, sentence) for where, sentence in found if sentence != SAMPLE]


def test_every_refusal_the_domains_raise_has_a_sentence_in_the_catalogue():
    english = languages()["en"].gettext
    unknown = english(UNKNOWN_REFUSAL).format(reason="")
    found = raised_sentences()
    assert len(found) > 60  # the scan reads the three services' refusals
    left_out = [
        f"{where}: {sentence}"
        for where, sentence in found
        if refusal_in_words(sentence, english)[1].startswith(unknown)
    ]
    assert left_out == []


def test_what_is_missing_reads_in_the_users_language():
    french = languages()["fr"].gettext
    for missing in (CaseNotFound(uuid4()), PlanNotFound(uuid4()), ReferralNotFound(uuid4())):
        field, words = refusal_in_words(str(missing), french)
        assert field is None
        assert words != french(UNKNOWN_REFUSAL).format(reason=str(missing))


@pytest.mark.parametrize(
    ("code", "expected"),
    [("fr", "L'enfant est déjà réunifié"), ("ar", "تم لمّ شمل الطفل")],
)
def test_a_rule_refusal_reads_in_french_and_arabic_without_the_case_id(code, expected):
    case_id = uuid4()
    field, words = refusal_in_words(
        f"case {case_id} is already reunified", languages()[code].gettext
    )
    assert field is None
    assert expected in words
    assert str(case_id) not in words


def test_a_value_from_the_domains_lists_is_translated_inside_the_sentence():
    french = languages()["fr"].gettext
    _, words = refusal_in_words(f"case {uuid4()} is already alternative_care", french)
    assert french("Alternative care") in words
    assert "alternative_care" not in words


def test_a_fact_that_cannot_be_true_shows_beside_its_field():
    arabic = languages()["ar"].gettext
    problems, general = field_problems({"detail": "Fix this: left_on is in the future"}, arabic)
    assert general is None
    assert list(problems) == ["left_on"]
    assert problems["left_on"] == arabic("This date has not come yet: a record says what happened.")


def test_a_sentence_no_domain_says_is_still_shown_with_a_translated_lead():
    french = languages()["fr"].gettext
    _, words = refusal_in_words("a refusal of tomorrow", french)
    assert words.endswith("a refusal of tomorrow")
    assert words.startswith(french(UNKNOWN_REFUSAL).split("{")[0])


def test_what_a_role_may_not_do_reads_in_the_users_language():
    french = languages()["fr"].gettext
    caseworker = Caller(sub="cw-1", role=Role.CASEWORKER, agency="CD-KIN")
    decision = decide(caseworker, Action.APPROVE, "CD-KIN")
    assert not decision.allowed
    _, words = refusal_in_words(f"Forbidden: {decision.reason}.", french)
    assert words == french("Your role does not allow this.")
    asker = Caller(sub="sup-1", role=Role.SUPERVISOR, agency="CD-KIN")
    _, words = refusal_in_words(
        f"Forbidden: {decide_approval(asker, 'CD-KIN', 'sup-1').reason}.", french
    )
    assert words == french(
        "An approval must come from someone other than the person who asked for it."
    )
