"""The referral service's HTTP routes: caseworkers refer; partners may answer over HTTP too."""

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Annotated, Any, Literal, Self, get_args
from uuid import UUID, uuid4

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from jsonschema import ValidationError
from pydantic import BaseModel, Field, field_validator, model_validator

from services.referral.app import ReferralApplication, ReferralRequest
from services.referral.asyncapi import asyncapi_document
from services.referral.domain import Partner, Referral, ReferralNotFound, ServiceKind, Urgency
from services.referral.messages import PARTNER_ANSWERS, partner_messages
from services.referral.partners import (
    ensure_partner_topics,
    issue_partner_credentials,
    partner_group_prefix,
)
from services.referral.sharing import CATEGORY_FIELDS, WrittenField, written_outside
from shared.access import Action, Caller
from shared.api import (
    AgencyCode,
    AgencyInPath,
    CountryCode,
    Erased,
    PageLimit,
    PageOffset,
    RequestModel,
    Text,
)
from shared.auth import authorize, public, requires
from shared.consent import DataCategory, Purpose
from shared.crypto import SealError
from shared.kafka import REGISTRAR
from shared.partnerbox import ALGORITHM, encoded_key, public_key_from_text
from shared.protections import PartnerKind
from shared.publishing import validate_data
from shared.runtime import ServiceRuntime

log = logging.getLogger("homeward.referral")


class PartnerIn(RequestModel):
    agency: AgencyCode
    name: Text
    kind: PartnerKind = Field(
        description="armed_forces, police_security, intelligence and prosecution are refused "
        "(409): they can never receive a child's data (Paris Commitments 10-11)."
    )
    country: CountryCode = Field(description="Where the partner works (ISO 3166-1 alpha-2).")
    services: list[ServiceKind] = Field(min_length=1, max_length=len(ServiceKind))
    public_key: str = Field(
        description="Base64 of the partner's 32-byte X25519 public key (`homeward partner "
        "keygen` prints one): every personal field sent to the partner is sealed to it."
    )

    @field_validator("public_key")
    @classmethod
    def _an_x25519_public_key(cls, text: str) -> str:
        return encoded_key(public_key_from_text(text.strip()))


class PartnerOut(BaseModel):
    agency: str
    name: str
    kind: str
    country: str
    services: list[str]
    public_key: str
    referrals_topic: str
    replies_topic: str

    @classmethod
    def of(cls, partner: Partner) -> "PartnerOut":
        return cls(
            agency=partner.agency,
            name=partner.name,
            kind=partner.kind.value,
            country=partner.country,
            services=partner.services,
            public_key=partner.public_key,
            referrals_topic=partner.referrals_topic,
            replies_topic=partner.replies_topic,
        )


class PartnerKafkaLogin(BaseModel):
    """How the partner signs in to the broker; the password is shown in this answer only."""

    username: str
    password: str
    sasl_mechanism: str
    group_prefix: str = Field(description="Every consumer group the partner uses starts with it.")


class RegisteredPartnerOut(PartnerOut):
    kafka_login: PartnerKafkaLogin | None = Field(
        description="The partner's Kafka credentials, shown once and kept nowhere (the broker "
        "stores a salted hash). Null when the broker takes no passwords, or when they could "
        "not be made now: then `homeward partner credentials <agency>` issues them."
    )


class ReferralIn(RequestModel):
    case_id: UUID
    agency: AgencyCode
    service: ServiceKind
    purpose: Purpose
    urgency: Urgency = Urgency.ROUTINE
    categories: list[DataCategory] = Field(
        min_length=1, description="What the partner needs; each must be covered by consent."
    )
    written: dict[WrittenField, Text] = Field(
        default_factory=dict,
        description="Notes the caseworker writes for this partner (school level, skills, "
        "health needs...), each within a category the referral shares.",
    )

    @model_validator(mode="after")
    def _written_within_categories(self) -> Self:
        outside = written_outside(self.written, self.categories)
        if outside:
            raise ValueError("; ".join(outside))
        return self

    def to_request(self, caller: Caller) -> ReferralRequest:
        return ReferralRequest(
            case_id=self.case_id,
            agency=self.agency,
            service=self.service,
            purpose=self.purpose,
            urgency=self.urgency,
            categories=tuple(dict.fromkeys(self.categories)),
            made_by=caller.sub,
            referring_agency=caller.agency,
            written=dict(self.written),
        )


class ReferralOut(BaseModel):
    referral_id: UUID
    case_id: UUID
    agency: str
    referring_agency: str
    service: str
    purpose: str
    urgency: str
    state: str
    categories: list[str] | Erased
    consent_ids: list[UUID]
    shared_data: dict[str, Any] | Erased
    answer_by: dt.datetime | Erased
    milestones: Sequence[tuple[str, dt.date | Erased]]
    closing_reason: str | None
    withdrawal_cause: str | None = Field(
        description="Why the partner was told to delete what it received (consent_withdrawn, "
        "consent_expired, case_erased); null while it was not."
    )
    data_deleted_on: dt.date | None = Field(
        description="The day the partner says it deleted it (its ReferralDataDeleted)."
    )
    deletion_due_by: dt.datetime | None = Field(
        description="By when the partner must acknowledge the deletion."
    )
    deletion_overdue: bool = Field(
        description="Past deletion_due_by with no acknowledgement from the partner."
    )
    made_at: dt.datetime = Field(description="When the referral was made.")
    version: int
    answers_open: list[str] = Field(
        description="The answers the partner may give now, as the types it sends them under "
        "(ReferralAccepted, ServiceStarted...)."
    )

    @classmethod
    def of(cls, referral: Referral, referrals: ReferralApplication) -> "ReferralOut":
        ack_within = referrals.deadlines.deletion_ack_within
        return cls(
            referral_id=referral.id,
            case_id=referral.case_id,
            agency=referral.agency,
            referring_agency=referral.referring_agency,
            service=referral.service,
            purpose=referral.purpose,
            urgency=referral.urgency,
            state=referral.state.value,
            categories=referral.categories,
            consent_ids=referral.consent_ids,
            shared_data=referral.shared_data,
            answer_by=referral.answer_by,
            milestones=referral.milestones,
            closing_reason=referral.closing_reason,
            withdrawal_cause=referral.withdrawal_cause,
            data_deleted_on=referral.data_deleted_on,
            deletion_due_by=referral.deletion_due_by(ack_within),
            deletion_overdue=referral.deletion_overdue(referrals.clock(), ack_within),
            made_at=referral.created_on,
            version=referral.version,
            answers_open=[ANSWER_TYPES[kind] for kind in referral.answers_open()],
        )


class WithdrawalIn(RequestModel):
    reason: Text


class ReferralPage(BaseModel):
    items: list[ReferralOut]
    total: int
    limit: int
    offset: int

    @classmethod
    def of(
        cls,
        page: list[Referral],
        total: int,
        limit: int,
        offset: int,
        referrals: ReferralApplication,
    ) -> "ReferralPage":
        items = [ReferralOut.of(referral, referrals) for referral in page]
        return cls(items=items, total=total, limit=limit, offset=offset)


class PartnerReferralOut(ReferralOut):
    messages: list[dict[str, Any]] = Field(
        description="The CloudEvents the partner's referrals topic carried for this referral, "
        "in order, as on Kafka (the same ids; the fields sealed to the partner's key): what a "
        "partner that lost its offsets reads again."
    )


class PartnerReferralPage(BaseModel):
    items: list[PartnerReferralOut]
    total: int
    limit: int
    offset: int


AnswerType = Literal[
    "ReferralAccepted",
    "ReferralDeclined",
    "ServiceStarted",
    "MilestoneReported",
    "ServiceCompleted",
    "ServiceDiscontinued",
    "ReferralDataDeleted",
]
# The HTTP answers are the Kafka answers: the two lists cannot drift apart.
assert {f"org.homeward.partner.{name}.v1" for name in get_args(AnswerType)} == set(PARTNER_ANSWERS)


# Each answer's kind → the type a partner sends it under (org.homeward.partner.<type>.v1).
ANSWER_TYPES = {kind: event.split(".")[-2] for event, kind in PARTNER_ANSWERS.items()}


class AnswerIn(RequestModel):
    type: AnswerType = Field(description="As on Kafka: ReferralAccepted, ReferralDeclined, ...")
    data: dict[str, Any] = Field(default_factory=dict, description="Its published schema's data.")
    answer_id: UUID = Field(
        default_factory=uuid4, description="Send the same id again to retry safely."
    )


async def referral_application(request: Request) -> ReferralApplication:  # see intake's
    application = request.app.state.runtime.application
    assert isinstance(application, ReferralApplication)
    return application


Referrals = Annotated[ReferralApplication, Depends(referral_application)]


def referral_in_scope(
    request: Request,
    referrals: ReferralApplication,
    caller: Caller,
    action: Action,
    referral_id: UUID,
    *,
    personal: bool,
) -> Referral:
    """The referral, once the caller may take ``action`` on it: staff of the referring
    agency, or the partner it is addressed to; anyone else is answered as if it were missing."""
    referral = referrals.get_referral(referral_id)
    as_partner = action in (Action.READ_REFERRAL_AS_PARTNER, Action.ANSWER_REFERRAL)
    authorize(
        request,
        caller,
        action,
        referral.agency if as_partner else referral.referring_agency,
        not_found=str(ReferralNotFound(referral_id)),
        case_id=referral.case_id,
        personal=personal,
    )
    return referral


router = APIRouter()


@router.post(
    "/partners",
    status_code=status.HTTP_201_CREATED,
    tags=["partners"],
    summary="Register a partner agency, create its topics and its Kafka credentials",
)
def register_partner(
    body: PartnerIn,
    referrals: Referrals,
    request: Request,
    _caller: Annotated[Caller, Depends(requires(Action.REGISTER_PARTNER))],
) -> RegisteredPartnerOut:
    partner = referrals.register_partner(
        body.agency, body.name, body.kind, body.country, body.services, body.public_key
    )
    runtime = request.app.state.runtime
    try:
        ensure_partner_topics(runtime.kafka, [partner.agency])
    except Exception:  # the partner relay creates them when the broker is back
        log.warning("topics of partner %s not created yet", partner.agency, exc_info=True)
    return RegisteredPartnerOut(
        **PartnerOut.of(partner).model_dump(), kafka_login=partner_login(runtime, partner.agency)
    )


def partner_login(runtime: ServiceRuntime, agency: str) -> PartnerKafkaLogin | None:
    """The partner's new credentials, made by the registrar principal; None when the broker
    takes no passwords or they cannot be made now (the registration stands either way)."""
    kafka = runtime.kafka
    if not kafka.authenticates:
        return None
    try:
        password = issue_partner_credentials(
            kafka.as_principal(REGISTRAR), agency, runtime.settings.kafka_timeout_seconds
        )
    except Exception:
        log.warning("Kafka credentials of partner %s not made", agency, exc_info=True)
        return None
    return PartnerKafkaLogin(
        username=agency,
        password=password,
        sasl_mechanism=kafka.sasl_mechanism,
        group_prefix=partner_group_prefix(agency),
    )


class ReplyKeyOut(BaseModel):
    public_key: str = Field(description="Base64 of the referral service's X25519 public key.")
    alg: str = ALGORITHM


@router.get(
    "/asyncapi.json",
    tags=["schemas"],
    summary="The AsyncAPI 3 document of the Kafka topics partners and auditors read and write",
    dependencies=[Depends(public())],
)
def asyncapi() -> dict[str, Any]:
    return asyncapi_document()


@router.get(
    "/categories",
    tags=["referrals"],
    summary="What a consent to each data category lets a referral share: its fields",
    dependencies=[Depends(public())],  # the platform's rule, as the README shows it
)
def category_fields() -> dict[str, list[str]]:
    return {
        str(category): [str(name) for name in names] for category, names in CATEGORY_FIELDS.items()
    }


@router.get(
    "/partners/reply-key",
    tags=["partners"],
    summary="The key partners seal their answers' free text (reason, detail) to",
    dependencies=[Depends(public())],  # a public key: it opens nothing
)
def reply_key(referrals: Referrals) -> ReplyKeyOut:
    return ReplyKeyOut(public_key=referrals.reply_key.public_key)


@router.get(
    "/partners/{agency}",
    tags=["partners"],
    summary="A partner and its topics",
    dependencies=[Depends(requires(Action.READ_PARTNERS))],
)
def get_partner(agency: AgencyInPath, referrals: Referrals) -> PartnerOut:
    return PartnerOut.of(referrals.get_partner(agency))


@router.post(
    "/referrals",
    status_code=status.HTTP_201_CREATED,
    tags=["referrals"],
    summary="Refer a child to a partner, sharing only what consent allows",
    responses={
        200: {
            "description": "An open referral of the case to this partner for this service "
            "exists already: it is the answer, and nothing is sent again."
        },
        409: {"description": "No valid consent covers this share, or a rule refuses it."},
    },
)
def make_referral(
    body: ReferralIn,
    referrals: Referrals,
    request: Request,
    response: Response,
    caller: Annotated[Caller, Depends(requires(Action.MAKE_REFERRAL))],
) -> ReferralOut:
    missing = f"No case {body.case_id} here (unknown or erased)."
    agency = referrals.case_agency(body.case_id)
    if agency is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, missing)
    authorize(
        request, caller, Action.MAKE_REFERRAL, agency, not_found=missing, case_id=body.case_id
    )
    referral, new = referrals.make_referral(body.to_request(caller))
    if not new:
        response.status_code = status.HTTP_200_OK
    # A withdrawal the service learnt while the referral was being made may have missed it;
    # checked again now that it is saved (the periodic sweep would, later).
    return ReferralOut.of(referrals.withdraw_data_if_consent_lapsed(referral.id), referrals)


@router.get("/referrals/{referral_id}", tags=["referrals"], summary="A referral's state")
def get_referral(
    referral_id: UUID,
    referrals: Referrals,
    request: Request,
    caller: Annotated[Caller, Depends(requires(Action.READ_REFERRAL))],
) -> ReferralOut:
    return ReferralOut.of(
        referral_in_scope(
            request, referrals, caller, Action.READ_REFERRAL, referral_id, personal=True
        ),
        referrals,
    )


@router.get(
    "/cases/{case_id}/referrals",
    tags=["referrals"],
    summary="A case's referrals, newest first: their state and whether partners deleted "
    "what they were told to",
)
def case_referrals(
    case_id: UUID,
    referrals: Referrals,
    request: Request,
    caller: Annotated[Caller, Depends(requires(Action.READ_REFERRAL))],
    limit: PageLimit = 50,
    offset: PageOffset = 0,
) -> ReferralPage:
    found = referrals.referrals_of_case(case_id)
    # A referral names its referring agency (the case's) in clear, so an erased case's
    # referrals stay listed (did every partner delete?); a case with none is scoped by itself.
    agency = found[0].referring_agency if found else referrals.case_agency(case_id)
    missing = f"No case {case_id} here (unknown or erased)."
    if agency is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, missing)
    authorize(
        request,
        caller,
        Action.READ_REFERRAL,
        agency,
        not_found=missing,
        case_id=case_id,
        personal=True,
    )
    return ReferralPage.of(found[offset : offset + limit], len(found), limit, offset, referrals)


@router.post(
    "/referrals/{referral_id}/withdrawal",
    tags=["referrals"],
    summary="The caseworker withdraws a referral",
)
def withdraw_referral(
    referral_id: UUID,
    body: WithdrawalIn,
    referrals: Referrals,
    request: Request,
    caller: Annotated[Caller, Depends(requires(Action.MAKE_REFERRAL))],
) -> ReferralOut:
    referral_in_scope(request, referrals, caller, Action.MAKE_REFERRAL, referral_id, personal=False)
    return ReferralOut.of(
        referrals.withdraw_referral(referral_id, body.reason, caller.sub), referrals
    )


@router.get(
    "/partners/{agency}/referrals",
    tags=["partner answers"],
    summary="A partner's own referrals, newest first, with the messages its topic carried "
    "for each: how a partner that lost its offsets catches up",
)
def partner_referrals(
    agency: AgencyInPath,
    referrals: Referrals,
    request: Request,
    caller: Annotated[Caller, Depends(requires(Action.READ_REFERRAL_AS_PARTNER))],
    limit: PageLimit = 50,
    offset: PageOffset = 0,
) -> PartnerReferralPage:
    authorize(
        request,
        caller,
        Action.READ_REFERRAL_AS_PARTNER,
        agency,
        not_found="No such partner.",
        personal=True,
    )
    page, total = referrals.referrals_of_partner(agency, limit, offset)
    schemas_at = request.app.state.runtime.settings.service_url("referral")
    items = [
        PartnerReferralOut(
            **dict(ReferralOut.of(referral, referrals)),
            messages=[
                message.model_dump(mode="json", exclude_none=True)
                for message in partner_messages(referrals, referral.id, schemas_at)
            ],
        )
        for referral in page
    ]
    return PartnerReferralPage(items=items, total=total, limit=limit, offset=offset)


@router.get(
    "/partners/{agency}/referrals/{referral_id}",
    tags=["partner answers"],
    summary="A partner reads one of its own referrals",
)
def partner_referral(
    agency: AgencyInPath,
    referral_id: UUID,
    referrals: Referrals,
    request: Request,
    caller: Annotated[Caller, Depends(requires(Action.READ_REFERRAL_AS_PARTNER))],
) -> ReferralOut:
    referral = referral_in_scope(
        request, referrals, caller, Action.READ_REFERRAL_AS_PARTNER, referral_id, personal=True
    )
    if referral.agency != agency:
        raise ReferralNotFound(referral_id)
    return ReferralOut.of(referral, referrals)


@router.post(
    "/partners/{agency}/referrals/{referral_id}/answers",
    tags=["partner answers"],
    summary="A partner answers over HTTP, as it could on its replies topic",
)
def partner_answer(
    agency: AgencyInPath,
    referral_id: UUID,
    body: AnswerIn,
    referrals: Referrals,
    request: Request,
    caller: Annotated[Caller, Depends(requires(Action.ANSWER_REFERRAL))],
) -> ReferralOut:
    referral_in_scope(
        request, referrals, caller, Action.ANSWER_REFERRAL, referral_id, personal=False
    )
    # Over HTTP(S) free text may come in plaintext: TLS carries it and nothing keeps it in
    # the clear (the store seals it with the case's key). Sealed, it is opened here.
    try:
        opened = referrals.reply_key.opened_answer(body.data, sealed_only=False)
    except SealError:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "A sealed field does not open with the reply key (GET /partners/reply-key).",
        ) from None
    data = {**opened, "referral_id": str(referral_id)}
    try:
        validate_data("partner", body.type, 1, data)
    except ValidationError as error:
        where = ".".join(str(part) for part in error.absolute_path) or "data"
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"Fix {where}: it must satisfy {error.validator} {error.validator_value!r}",
        ) from None
    kind = PARTNER_ANSWERS[f"org.homeward.partner.{body.type}.v1"]
    return ReferralOut.of(
        referrals.answer(agency, referral_id, str(body.answer_id), {"kind": kind, **data}),
        referrals,
    )
