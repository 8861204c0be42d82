"""The services' refusals, in the user's language, next to the field they are about.

A 422 from a service lists its problems by field (``release.date``) in pydantic's English
words; each is matched here to a sentence of the catalogue (numbers kept), so it reads in the
user's language. A sentence not matched is put through the catalogue as it is, and reads in
English where the catalogue has no translation of it yet.
"""

import re
from collections.abc import Callable
from typing import Any

Translate = Callable[[str], str]

# pydantic's words → the catalogue's msgid; a group named n is put into the sentence.
KNOWN_PROBLEMS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^Field required$"), "This field is required."),
    (re.compile(r"^Input should be a valid date"), "Enter a date."),
    (re.compile(r"^Input should be a valid datetime"), "Enter a date and a time."),
    (re.compile(r"^Input should be a valid integer"), "Enter a whole number."),
    (re.compile(r"^Input should be greater than or equal to (?P<n>\d+)"), "Enter at least {n}."),
    (re.compile(r"^Input should be less than or equal to (?P<n>\d+)"), "Enter at most {n}."),
    (re.compile(r"^String should have at least (?P<n>\d+) char"), "Write at least {n} characters."),
    (re.compile(r"^String should have at most (?P<n>\d+) char"), "Write at most {n} characters."),
    (re.compile(r"^Input should be '"), "Choose one of the answers offered."),
    (re.compile(r"^List should have at least 1 item"), "Choose at least one."),
    (re.compile(r"^String should match pattern"), "This is not written in the expected form."),
]
IN_THE_FUTURE = "This date has not come yet: a record says what happened."
VALUE_ERROR = "Value error, "


def in_words(problem: str, translate: Translate) -> str:
    for pattern, msgid in KNOWN_PROBLEMS:
        matched = pattern.match(problem)
        if matched:
            return translate(msgid).format(**matched.groupdict())
    return translate(problem.removeprefix(VALUE_ERROR))


def field_problems(
    answer: dict[str, Any], translate: Translate
) -> tuple[dict[str, str], str | None]:
    """A service's 422 body as problems by field, and what it said of no field."""
    by_field: dict[str, str] = {}
    general: list[str] = []
    for problem in answer.get("errors", []):
        name, words = (
            str(problem.get("field", "")),
            in_words(str(problem.get("problem", "")), translate),
        )
        if name in ("", "body"):
            general.append(words)
        else:
            by_field.setdefault(name, words)
    if not answer.get("errors"):
        general.append(translate(str(answer.get("detail", ""))))
    return by_field, " ".join(general) or None
