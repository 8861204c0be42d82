"""An auditor's account of one case: every message about it on the three event topics and the
access log, in causal order, each with who, when, why and under which consent; and, as of a
moment or a version, the case as the case API showed it then.

Everything is read from Kafka, with the keyring for the sealed fields: the case's state is the
intake aggregate rebuilt from its own facts on ``homeward.intake.events`` up to that version
(:mod:`services.intake.casereplay`), and shown as ``GET /cases/{id}`` shows it, with the moment
as the clock; intake's store is not needed. What an auditor sees
is decided by their token alone: personal fields need the personal-data grant, restricted
categories the sexual-violence grant; holding the keys decides nothing.
"""

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from jinja2 import Environment

from services.intake.api import CaseOut
from services.intake.casereplay import case_from_messages, facts_of_case
from services.intake.domain import CaseNotFound
from services.intake.messages import RESTRICTED_FIELDS
from services.intake.programme import Programme

# One catalogue for every page a person reads: the forms' (English, French, Arabic).
from services.web.i18n import SOURCE_LANGUAGE, Language, languages
from shared.access import Action, Caller, permission
from shared.allowlist import CLEAR_FIELDS
from shared.caseindex import CaseOffsetIndex, KeyReader
from shared.crypto import is_sealed
from shared.envelope import CloudEvent, MalformedMessage
from shared.kafka import KafkaConnection, event_topic, platform_topics, read_to_end
from shared.keyring import CaseKeys
from shared.privacy import open_personal_fields
from shared.refusals import NotFound
from shared.replay import read_case_messages
from shared.signatures import Verdict, broken_sequences

PERSONAL = "[personal]"
RESTRICTED = "[restricted]"


class ReportFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"
    HTML = "html"


FORMATS = tuple(ReportFormat)
REPORT_LANGUAGES = tuple(languages())
# The same as an enumeration, for the route's OpenAPI.
ReportLanguage = StrEnum("ReportLanguage", {code: code for code in REPORT_LANGUAGES})  # type: ignore[misc]
REPORT_LANGUAGE = ReportLanguage(SOURCE_LANGUAGE)
REGISTRATION_TYPE = "org.homeward.intake.ChildRegistered."
CONSENT_FACT = "Consent"  # ConsentGiven, ConsentWithdrawn
# What the case view shows that identifies no one: the allow-list's fields and the case's
# bookkeeping. Everything else of it is personal data.
CLEAR_STATE_FIELDS = {*CLEAR_FIELDS, "version", "erased", "stage", "route"}


class AuditRefused(PermissionError):
    """The token does not let its holder read case histories."""


class NoSuchVersion(NotFound):
    def __init__(self, case_id: UUID, version: int) -> None:
        super().__init__(f"Case {case_id} has no version {version}.")


@dataclass(frozen=True)
class Disclosure:
    """What the caller's token lets them read of a case's history."""

    personal: bool
    restricted: bool

    @classmethod
    def of(cls, caller: Caller) -> "Disclosure":
        if not permission(caller, Action.READ_HISTORY).allowed:
            raise AuditRefused(f"the role {caller.role} does not hold {Action.READ_HISTORY}")
        personal = permission(caller, Action.READ_PERSONAL_DATA).allowed
        restricted = permission(caller, Action.READ_SEXUAL_VIOLENCE).allowed
        return cls(personal=personal, restricted=personal and restricted)

    def data(self, data: dict[str, Any], case_id: UUID, case_keys: CaseKeys) -> dict[str, Any]:
        """A message's data as the caller may see it: sealed fields opened only with the
        personal grant (``[erased]`` once the case's key is gone), restricted ones only with
        theirs."""
        hidden = {
            name: RESTRICTED
            if name in RESTRICTED_FIELDS and not self.restricted
            else PERSONAL
            if is_sealed(value) and not self.personal
            else value
            for name, value in data.items()
        }
        return open_personal_fields(hidden, case_id, case_keys, "case audit")

    def state(self, state: dict[str, Any]) -> dict[str, Any]:
        if self.personal:
            return state
        return {
            name: value if name in CLEAR_STATE_FIELDS else PERSONAL for name, value in state.items()
        }


@dataclass(frozen=True)
class Cut:
    """Where the account stops: at a moment, at the case's version, or nowhere."""

    as_of: datetime | None = None
    at_sequence: int | None = None

    def for_format(self, output_format: str, now: datetime) -> "Cut":
        """The HTML report shows the deadlines, and so the case's state: as of now when no
        cut is given."""
        if output_format != "html" or self.as_of is not None or self.at_sequence is not None:
            return self
        return Cut(as_of=now)


@dataclass(frozen=True)
class Verification:
    """Whether the account can be trusted as the platform published it: every message signed
    by the service it names (none altered or forged on a topic) and no version of any subject
    missing between its first and its last (none removed)."""

    signed: int
    unsigned: int
    invalid: list[str]  # the ids of messages whose signature fails
    missing: dict[str, list[int]]  # subject -> the versions no message carries

    @classmethod
    def of(cls, messages: list[CloudEvent], verdicts: list[Verdict]) -> "Verification":
        subjects = sorted({m.subject for m in messages if m.subject is not None})
        missing = {subject: broken_sequences(messages, subject) for subject in subjects}
        return cls(
            signed=verdicts.count(Verdict.VALID),
            unsigned=verdicts.count(Verdict.UNSIGNED),
            invalid=[m.id for m, v in zip(messages, verdicts, strict=True) if v is Verdict.INVALID],
            missing={subject: gaps for subject, gaps in missing.items() if gaps},
        )

    @property
    def verified(self) -> bool:
        # An unsigned message is one no service of the platform published: forged, or
        # published before messages were signed; either way nothing vouches for it.
        return not (self.invalid or self.missing or self.unsigned)

    def summary(self, _: Callable[[str], str] = str) -> str:
        """One sentence, in the language of the ``_`` (gettext) given."""
        if self.verified:
            return _(
                "Verified: {signed} messages, each signed by its service; none missing."
            ).format(signed=self.signed)
        parts = [_("{count} signed").format(count=self.signed)]
        if self.invalid:
            parts.append(
                _("{count} with a signature that fails (altered or forged)").format(
                    count=len(self.invalid)
                )
            )
        if self.missing:
            versions = "; ".join(f"{subject} v{gaps}" for subject, gaps in self.missing.items())
            parts.append(_("missing {versions}").format(versions=versions))
        if self.unsigned:
            parts.append(
                _("{count} unsigned (forged, or published before signing)").format(
                    count=self.unsigned
                )
            )
        return _("NOT verified: {details}").format(details=", ".join(parts))


@dataclass(frozen=True)
class CaseAccount:
    case_id: UUID
    entries: list[dict[str, Any]]
    state: dict[str, Any] | None  # the case then; None for an account with no cut
    as_of: datetime | None
    topics: list[str]
    verification: Verification


def _who(data: dict[str, Any]) -> dict[str, Any]:
    # A registration names its caseworker (the caller), not a ``registered_by``.
    return {
        name: value for name, value in data.items() if name.endswith("_by") or name == "caseworker"
    }


def _why(data: dict[str, Any]) -> dict[str, Any]:
    return {
        name: value
        for name, value in data.items()
        if "reason" in name or "grounds" in name or name == "purpose"
    }


def _consents(data: dict[str, Any]) -> list[Any]:
    """The consents a fact names: a referral's (``consent_ids``), or the one it gives,
    withdraws or acts under (``consent_id``)."""
    if data.get("consent_id") is not None:
        return [data["consent_id"]]
    named = data.get("consent_ids")
    return named if isinstance(named, list) else []


def entry_of(message: CloudEvent, data: dict[str, Any], signature: Verdict) -> dict[str, Any]:
    """One fact of the timeline: when, what, about which subject, who, why, under which
    consent, its data, and whether its service's signature holds."""
    return {
        "time": None if message.time is None else message.time.isoformat(),
        "source": message.source,
        "type": message.type,
        "subject": message.subject,
        "sequence": None if message.sequence is None else int(message.sequence),
        "id": message.id,
        "who": _who(data),
        "why": _why(data),
        "consent_ids": _consents(data),
        "signature": signature.value,
        "data": data,
    }


def _moment_of(recorded: dict[int, datetime], case_id: UUID, cut: Cut) -> datetime | None:
    if cut.at_sequence is None:
        return cut.as_of
    if cut.at_sequence not in recorded:
        raise NoSuchVersion(case_id, cut.at_sequence)
    return recorded[cut.at_sequence]


def account_of_case(
    kafka: KafkaConnection | KeyReader,
    case_keys: CaseKeys,
    programme: Programme,
    case_id: UUID,
    caller: Caller,
    cut: Cut = Cut(),
    index: CaseOffsetIndex | None = None,
) -> CaseAccount:
    """The case's timeline from Kafka up to the cut, and its state then, as ``caller`` may
    see them; :class:`CaseNotFound` for a case intake never registered. Kafka and the case
    keys are all it reads (with the case index, :mod:`shared.caseindex`, for where the
    case's messages are): the case's state is rebuilt from its own facts on the topic."""
    disclosure = Disclosure.of(caller)
    topics = platform_topics()
    messages = read_case_messages(kafka, topics, case_id, index)
    facts = facts_of_case(messages, case_id)
    if not facts or not facts[0].type.startswith(REGISTRATION_TYPE):
        raise CaseNotFound(case_id)
    # When each version of the case was recorded.
    recorded = {int(fact.sequence or 0): fact.time for fact in facts if fact.time is not None}
    moment = _moment_of(recorded, case_id, cut)
    shown = [
        message
        for message in messages
        if moment is None or (message.time is not None and message.time <= moment)
    ]
    check = case_keys.keyring.signature_check()
    verdicts = [check.verdict(message) for message in shown]
    entries = [
        entry_of(message, disclosure.data(message.data, case_id, case_keys), verdict)
        for message, verdict in zip(shown, verdicts, strict=True)
    ]
    state = None
    versions = [version for version, at in recorded.items() if moment and at <= moment]
    if moment is not None and versions:
        case = case_from_messages(facts, case_id, case_keys, max(versions))
        state = disclosure.state(CaseOut.of(case, programme, moment).model_dump(mode="json"))
    return CaseAccount(case_id, entries, state, moment, topics, Verification.of(shown, verdicts))


def registered_between(kafka: KafkaConnection, since: datetime, until: datetime) -> list[UUID]:
    """The cases whose registration is on ``homeward.intake.events`` in ``[since, until)``,
    in the order they were registered."""
    registered: dict[str, datetime] = {}
    for record in read_to_end(kafka, [event_topic("intake")]):
        try:
            message = CloudEvent.from_bytes(record.value)
        except MalformedMessage:
            continue
        if (
            message.type.startswith(REGISTRATION_TYPE)
            and message.subject is not None
            and message.time is not None
            and since <= message.time < until
        ):
            registered.setdefault(message.subject, message.time)
    return [UUID(case) for case, _ in sorted(registered.items(), key=lambda item: item[1])]


def _cell(value: Any) -> Any:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value


def as_json_lines(accounts: Iterable[CaseAccount]) -> Iterator[str]:
    """Each entry a line; after a case's entries, one line with its verification, and its
    state at the cut if there is one."""
    for account in accounts:
        for entry in account.entries:
            yield json.dumps({"case_id": str(account.case_id), **entry}, ensure_ascii=False)
        closing: dict[str, Any] = {"case_id": str(account.case_id)}
        if account.as_of is not None:
            closing |= {"as_of": account.as_of.isoformat(), "state": account.state}
        closing["verification"] = {"verified": account.verification.verified} | asdict(
            account.verification
        )
        yield json.dumps(closing, ensure_ascii=False)


CSV_COLUMNS = ["case_id", "time", "source", "type", "subject", "sequence", "id", "who", "why"]
CSV_COLUMNS += ["consent_ids", "signature", "data"]


def as_csv(accounts: Iterable[CaseAccount]) -> str:
    """One row per entry; who, why and the data as JSON in their cells."""
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for account in accounts:
        for entry in account.entries:
            row = {"case_id": str(account.case_id), **entry}
            writer.writerow({name: _cell(row[name]) for name in CSV_COLUMNS})
    return out.getvalue()


HTML_REPORT = """<!doctype html>
<html lang="{{ language.code }}" dir="{{ language.direction }}"><head><meta charset="utf-8">
<title>{{ _("Case {case_id}: audit").format(case_id=account.case_id) }}</title>
<style>
body { font-family: sans-serif; margin: 2em; }
.columns { display: flex; gap: 2em; align-items: flex-start; }
table { border-collapse: collapse; font-size: 0.9em; }
td, th { border: 1px solid #ccc; padding: 0.3em; vertical-align: top; text-align: start; }
pre { margin: 0; white-space: pre-wrap; direction: ltr; text-align: left; }
.missed { color: #a00; font-weight: bold; }
.verified { color: #060; font-weight: bold; }
</style></head><body>
<h1>{{ _("Case {case_id}").format(case_id=account.case_id) }}
{%- if account.state %}: {{ account.state.name }}{% endif %}</h1>
<p class="{{ 'verified' if account.verification.verified else 'missed' }}">
{{ account.verification.summary(_) }}</p>
<p>{{ _("{count} entries from {topics}").format(
    count=account.entries | length, topics=account.topics | join(", ")) }}
{%- if account.as_of %} {{ _("up to {moment}").format(moment=account.as_of.isoformat()) }}
{%- endif %}.</p>
{% if account.state is not none %}
<h2>{% if account.as_of -%}
{{ _("Deadlines as of {moment}").format(moment=account.as_of.isoformat()) }}
{%- else %}{{ _("Deadlines") }}{% endif %}</h2>
{% if account.state.deadlines is string %}
<p>{{ account.state.deadlines }}</p>
{% else %}
<table><tr><th>{{ _("Deadline") }}</th><th>{{ _("Due") }}</th><th>{{ _("Met") }}</th>
<th>{{ _("Status") }}</th></tr>
{% for deadline in account.state.deadlines %}
<tr class="{{ 'missed' if deadline.status in ('overdue', 'met_late') else '' }}">
<td>{{ deadline.kind }}</td><td>{{ deadline.due_at }}</td><td>{{ deadline.met_at or "" }}</td>
<td>{{ deadline.status }}</td></tr>
{% endfor %}</table>
{% endif %}
{% endif %}
<div class="columns">
<section><h2>{{ _("Timeline") }}</h2>
<table><tr><th>{{ _("When") }}</th><th>{{ _("What") }}</th><th>{{ _("Who") }}</th>
<th>{{ _("Why") }}</th><th>{{ _("Consent") }}</th><th>{{ _("Data") }}</th></tr>
{% for entry in account.entries %}
<tr><td>{{ entry.time }}</td><td>{{ entry.type }}<br>{{ entry.subject }} #{{ entry.sequence }}<br>
{{ _("Signature") }}: {{ entry.signature }}</td>
<td><pre>{{ entry.who | tojson(2) }}</pre></td><td><pre>{{ entry.why | tojson(2) }}</pre></td>
<td>{{ entry.consent_ids | join(", ") }}</td><td><pre>{{ entry.data | tojson(2) }}</pre></td></tr>
{% endfor %}</table></section>
<section><h2>{{ _("Consent history") }}</h2>
<table><tr><th>{{ _("When") }}</th><th>{{ _("What") }}</th><th>{{ _("Consent") }}</th>
<th>{{ _("Who") }}</th></tr>
{% for entry in consents %}
<tr><td>{{ entry.time }}</td><td>{{ entry.type }}</td><td>{{ entry.consent_ids | join(", ") }}</td>
<td><pre>{{ entry.who | tojson(2) }}</pre></td></tr>
{% endfor %}</table></section>
</div>
{% if account.state is not none %}
<h2>{{ _("The case then") }}</h2><pre>{{ account.state | tojson(2) }}</pre>
{% endif %}
</body></html>
"""

# Every value is escaped: names and free text are whatever someone typed.
_html = Environment(autoescape=True).from_string(HTML_REPORT)


def as_html(account: CaseAccount, language: Language) -> str:
    """A self-contained report in the reader's language: deadlines, the timeline, the consent
    history beside it (the recorded values as recorded)."""
    consents = [
        entry for entry in account.entries if entry["consent_ids"] or CONSENT_FACT in entry["type"]
    ]
    return _html.render(account=account, consents=consents, language=language, _=language.gettext)


MEDIA_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv", "html": "text/html"}


def rendered(
    accounts: list[CaseAccount], output_format: str, language: str = SOURCE_LANGUAGE
) -> str:
    """The accounts in one of :data:`FORMATS` (HTML: a report of the first case, in
    ``language``, one of :data:`REPORT_LANGUAGES`)."""
    if output_format == "html":
        return as_html(accounts[0], languages()[language]) if accounts else ""
    if output_format == "csv":
        return as_csv(accounts)
    return "".join(f"{line}\n" for line in as_json_lines(accounts))
