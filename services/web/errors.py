"""The services' refusals, in the user's language, next to the field they are about.

A 422 from a service lists its problems by field (``release.date``) in pydantic's English
words; each is matched here to a sentence of the catalogue (numbers kept), so it reads in the
user's language.

A rule's refusal (409), a fact that cannot be true (422 with no list) or something missing
(404) is one English sentence, its ``detail``, naming ids and values. The services give no
code for it, and one would have to be added at every place a rule refuses, in three services;
so each sentence the domains can say is matched here to a catalogue's sentence instead,
:data:`REFUSALS`, written as the service writes it with its variable parts named. A test reads
every refusal the domains raise and fails for one left out, so a new rule cannot read in
English. A part named ``field`` is the form's field the refusal is about: it shows beside it.
"""

import re
from collections.abc import Callable
from typing import Any

from services.web.forms import humanised

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
FIX_THIS = "Fix this: "  # shared.api's lead for a fact that cannot be true
UNKNOWN_REFUSAL = "The service refused this: {reason}"
RELOAD = (
    "Someone changed this case while you were filling in this form. Reload it to see the "
    "change, then record this step again."
)

# (the service's sentence, its parts named; the catalogue's msgid). The first that matches
# the whole sentence is the one shown, so a narrower sentence comes before a wider one.
REFUSALS: list[tuple[str, str]] = [
    # intake's rules (services/intake/domain/case.py)
    ("consent refused: {reason}", "This consent cannot be recorded: {reason}"),
    (
        "case {case}: every value given is the one recorded",
        "Every value given is already the one recorded.",
    ),
    ("case {case} has no consent {consent}", "This case has no such consent."),
    ("consent {consent} was already withdrawn", "This consent was already withdrawn."),
    (
        "case {case}: a medical age assessment is a last resort; record an uncertain "
        "documents, interview or community assessment first",
        "A medical age assessment is a last resort: first record a documents, interview or "
        "community assessment that found the age uncertain.",
    ),
    (
        "case {case} is already in interim care since {since}: record its end first",
        "The child is already in interim care since {since}: record the end of that placement "
        "first.",
    ),
    (
        "case {case} is already {stage}: interim care comes before that",
        "Interim care comes before this case's stage ({stage}).",
    ),
    (
        "case {case} is not in interim care: a placement cannot be {what} before it started",
        "The child is not in interim care: record the placement first.",
    ),
    (
        "case {case} has no risk level awaiting a response",
        "No risk level is waiting for a response.",
    ),
    ("case {case}: tracing is already open", "Family tracing is already open."),
    ("case {case} is already reunified", "The child is already reunified."),
    (
        "case {case} cannot be reunified before the family is located and assessed",
        "Reunification comes after the family is located and assessed.",
    ),
    (
        "case {case} cannot be reunified: the latest family assessment must find the family "
        "willing, able and safe, and the child willing",
        "The latest family assessment must find the family willing, able and safe, and the child "
        "willing.",
    ),
    (
        "rule 'safeguards before return': case {case} cannot be reunified without {missing}",
        "The return needs its safeguards first: {missing}.",
    ),
    (
        "case {case}: a return is approved after a family assessment that finds the family "
        "willing, able and safe, and the child willing",
        "The latest family assessment must find the family willing, able and safe, and the child "
        "willing.",
    ),
    (
        "case {case}: the caseworker proposes a return; a supervisor who is someone else "
        "approves it",
        "A supervisor other than the caseworker approves a return.",
    ),
    ("case {case} is already linked to case {other}", "These cases are already linked."),
    ("case {case} is not linked to case {other}", "These cases are not linked."),
    (
        "case {case} is already detained since {since}",
        "The child is already detained since {since}.",
    ),
    ("case {case} is not detained", "The child is not detained."),
    (
        "case {case} is not reunified: nothing can break down",
        "The child is not reunified: nothing can break down.",
    ),
    ("case {case}: no family was located yet", "No family was located yet."),
    (
        "case {case}: tracing is still open; reunify or close it unsuccessfully before "
        "arranging alternative care",
        "Family tracing is still open: record the reunification, or close tracing, before "
        "arranging alternative care.",
    ),
    (
        "case {case}: supervised independent living is for adolescents of {age} or older",
        "Supervised independent living is for adolescents of {age} or older.",
    ),
    (
        "case {case} has no open tracing: nothing can be {what} before tracing starts",
        "Family tracing is not open: start it first.",
    ),
    (
        "case {case} is still in interim care: record the end of the placement first",
        "The child is still in interim care: record the end of the placement first.",
    ),
    (
        "case {case} is already assigned to {caseworker}",
        "The case is already assigned to {caseworker}.",
    ),
    ("case {case} has no case plan to review", "The case has no case plan to review."),
    ("case {case} is already closed", "The case is already closed."),
    (
        "case {case} cannot be closed as {reason}: {why}",
        "The case cannot be closed for this reason: {why}",
    ),
    ("case {case} has no closure waiting for approval", "No closure is waiting for approval."),
    (
        "case {case}: who asked to close the case cannot approve it (four eyes)",
        "Who asked to close the case cannot approve it: another supervisor does (four eyes).",
    ),
    (
        "case {case} is not closed, so it cannot be reopened",
        "The case is not closed, so it cannot be reopened.",
    ),
    ("case {case} was already handed over", "The handover was already recorded."),
    ("case {case} is closed: reopen it first", "The case is closed: reopen it first."),
    (
        "case {case} is erased: nothing more can be recorded",
        "The case was erased: nothing more can be recorded.",
    ),
    ("case {case} is already {stage}", "The case is already at this stage: {stage}."),
    ("tracing cannot start: {reason}", "Family tracing cannot start: {reason}"),
    (
        "rule 'tracing pauses without a valid tracing consent': nothing can be {what} on case "
        "{case} until a new consent for tracing through {agency} is recorded ({reason})",
        "Family tracing is paused: record a new consent for tracing through {agency} first.",
    ),
    # follow-up's (services/followup)
    (
        "plan {plan} was cancelled when its case was erased: nothing more is recorded",
        "The case was erased: nothing more can be recorded.",
    ),
    ("plan {plan} has no visit {number}", "This visit is not in the follow-up plan."),
    ("visit {number} is already {status}", "This visit is already recorded: {status}."),
    # referral's (services/referral)
    ("partner {agency} refused: {reason}", "This partner cannot be registered: {reason}"),
    (
        "referral {referral} is {state}: it cannot be withdrawn",
        "This referral is {state}: it cannot be withdrawn.",
    ),
    (
        "referral {referral} is {state}: it cannot be {change}",
        "This referral is {state}: it cannot change so.",
    ),
    ("a decline needs a reason", "Give the reason for declining."),
    (
        "referral {referral}: its partner acknowledged the deletion already ({on})",
        "The partner already confirmed the deletion ({on}).",
    ),
    (
        "case {case} is unknown here or erased: nothing can be shared",
        "This case is not known to referrals yet, or was erased: nothing can be shared. Try "
        "again in a moment.",
    ),
    (
        "rule 'no referral on a closed case': case {case} is closed; reopen it first",
        "The case is closed: reopen it first.",
    ),
    (
        "partner {agency} does not offer {service}",
        "This partner does not offer this service: {service}.",
    ),
    (
        "rule 'purpose bound to the service': {service} serves {purposes}, not {purpose}",
        "This service serves other purposes: {purposes}.",
    ),
    ("referral to {agency} refused: {reason}", "This referral cannot be made: {reason}"),
    ("referral refused: {reason}", "No consent allows this referral: {reason}"),
    ("partner {agency} is already registered", "This partner is already registered."),
    ("unknown answer {kind}", "This answer is not one a partner can give."),
    # facts that cannot be true (422), about a field of the form
    ("{field} is in the future", IN_THE_FUTURE),
    ("{field} is before the release date", "This date is before the child's release."),
    ("{field} is after the release date", "This date is after the child's release."),
    ("{field} is before the child's return", "This date is before the child's return."),
    ("{field} is before {when}", "This date is too early: {when}."),
    (
        "{field} must be after the entry date and after today",
        "Choose a date after the entry date and after today.",
    ),
    (
        "give the child's date_of_birth or estimated_age",
        "Give the date of birth or the estimated age.",
    ),
    (
        "handover.custody_hours: {hours} hours in custody is more than the {since} hours from "
        "the release day to the handover",
        "More hours in custody than passed between the release day and the handover.",
    ),
    (
        "a best-interests decision needs its grounds, a written reason and the approving "
        "supervisor",
        "A best-interests decision needs its grounds, a written reason and the approving "
        "supervisor.",
    ),
    ("given_by: {reason}", "Who gives this consent does not fit the child's age: {reason}"),
    ("{name} cannot be corrected; correctable: {names}", "This cannot be corrected here."),
    (
        "kind '{kind}' is not interim care: a direct return is recorded with `reunification` "
        "(or `alternative-care`)",
        "This is not interim care: record a direct return as a reunification or alternative care.",
    ),
    (
        "sexual_violence_details are given for a non-survivor",
        "Details of sexual violence are given, but the survivor flag is not ticked.",
    ),
    ("a case plan needs at least one goal", "A case plan needs at least one goal."),
    # a change recorded meanwhile: the form offers to reload (shared.refusals.VersionConflict)
    ("case {case} is at version {version}, not {based_on}: reload it and try again", RELOAD),
    ("case {case} changed while this command ran: reload it and try again", RELOAD),
    (
        "the plan of case {case} is at version {version}, not {based_on}: reload it and try again",
        RELOAD,
    ),
    ("the plan of case {case} changed while this command ran: reload it and try again", RELOAD),
    # what the user's role or agency may not do (403, shared.access's reasons)
    ("Forbidden: the role {role} does not hold {action}.", "Your role does not allow this."),
    ("Forbidden: {action} is held only within {agency}.", "This belongs to another agency."),
    (
        "Forbidden: an approval must come from someone other than the person who asked for it.",
        "An approval must come from someone other than the person who asked for it.",
    ),
    # something missing (404), shared.api's own answers
    ("No case {case}.", "No such case here."),
    (
        "Case {case} has no follow-up plan (not returned yet).",
        "This case has no follow-up plan yet: it comes with the child's return.",
    ),
    ("No referral {referral}.", "No such referral."),
    ("Another change was recorded while this command ran: reload and try again.", RELOAD),
    (
        "{what}: nothing more can be recorded about it",
        "The case was erased: nothing more can be recorded.",
    ),
    ("Internal error; try again later.", "Something went wrong on our side: try again later."),
]
# Parts that name what the user knows already (which case) are not shown.
NOT_SHOWN = frozenset({"case", "other", "consent", "plan", "referral"})
WORD = re.compile(r"^[a-z][a-z_]*$")  # a value of the domain's lists, as a humanised msgid


def _pattern(sentence: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>.+?)", re.escape(sentence)))


KNOWN_REFUSALS = [(_pattern(sentence), msgid) for sentence, msgid in REFUSALS]


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
        field, words = refusal_in_words(str(answer.get("detail", "")), translate)
        if field is None:
            general.append(words)
        else:
            by_field[field] = words
    return by_field, " ".join(general) or None


def refusal_in_words(detail: str, translate: Translate) -> tuple[str | None, str]:
    """A service's refusal as (the field it is about, or None; its words in the user's
    language). The values it names that are words of the domain's lists are translated too."""
    sentence = detail.removeprefix(FIX_THIS)
    for pattern, msgid in KNOWN_REFUSALS:
        matched = pattern.fullmatch(sentence)
        if matched is None:
            continue
        named = matched.groupdict()
        parts = {
            name: translate(humanised(value)) if WORD.match(value) else value
            for name, value in named.items()
            if name not in NOT_SHOWN | {"field"}
        }
        return named.get("field"), translate(msgid).format(**parts)
    return None, translate(UNKNOWN_REFUSAL).format(reason=detail)
