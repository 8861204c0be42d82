"""Who may do what: the roles, the actions they hold, and the one function that decides.

A caller is signed in by the organisation's identity provider (:mod:`shared.tokens`) with one
role and the agency they work for. Each role holds a set of actions, each either within its own
agency or across agencies; :func:`decide` answers for a caller, an action and the agency a
resource belongs to. Out of scope is *not found*, so that no one learns that another agency's
case exists; an action the caller does not hold is *forbidden*, naming it. The answer for an
action the caller does not hold never depends on the resource, so it reveals nothing either.

The HTTP side (what each route declares, 401, 403 and 404) is in :mod:`shared.auth`.
"""

from dataclasses import dataclass
from enum import Enum, StrEnum

# What an agency is called, in tokens and in requests alike, so that the two always compare.
AGENCY_CODE_PATTERN = r"^[A-Z0-9]{2,8}(-[A-Z0-9]{2,8}){0,2}$"


class Role(StrEnum):
    CASEWORKER = "caseworker"  # the cases of their own agency
    SUPERVISOR = "supervisor"  # their agency's cases, and its approvals and decisions
    PARTNER = "partner"  # referrals addressed to its own agency, consented fields only
    AUDITOR = "auditor"  # histories and integrity across agencies; personal data by grant
    PROGRAMME_MANAGER = "programme_manager"  # reports and statistics across agencies; no case
    ADMIN = "admin"  # partners, users' roles, keys; never case content


class Grant(StrEnum):
    """What an auditor must be given explicitly, on top of the role."""

    PERSONAL_DATA = "personal-data"
    SEXUAL_VIOLENCE = "sexual-violence"  # restricted: not implied by personal-data


class Action(StrEnum):
    REGISTER_CASE = "register_case"
    READ_CASE = "read_case"
    LIST_CASES = "list_cases"
    RECORD_STEP = "record_step"
    READ_PERSONAL_DATA = "read_personal_data"
    READ_SEXUAL_VIOLENCE = "read_sexual_violence"
    APPROVE = "approve"
    DECIDE_BEST_INTERESTS = "decide_best_interests"
    REASSIGN_CASE = "reassign_case"
    ERASE_CASE = "erase_case"
    BREAK_GLASS = "break_glass"  # open another agency's case in an emergency
    MAKE_REFERRAL = "make_referral"
    READ_REFERRAL = "read_referral"
    READ_REFERRAL_AS_PARTNER = "read_referral_as_partner"
    ANSWER_REFERRAL = "answer_referral"
    READ_PARTNERS = "read_partners"
    REGISTER_PARTNER = "register_partner"
    READ_HISTORY = "read_history"
    CHECK_INTEGRITY = "check_integrity"
    READ_STATISTICS = "read_statistics"
    READ_REPORTS = "read_reports"  # programme reports: aggregates under disclosure control
    MANAGE_ROLES = "manage_roles"
    MANAGE_KEYS = "manage_keys"
    VIEW_HEALTH_DETAILS = "view_health_details"


class Scope(Enum):
    OWN_AGENCY = "own agency"
    ANY_AGENCY = "any agency"


OWN, ANY = Scope.OWN_AGENCY, Scope.ANY_AGENCY

_CASEWORK: dict[Action, Scope] = {
    Action.REGISTER_CASE: OWN,
    Action.READ_CASE: OWN,
    Action.LIST_CASES: OWN,
    Action.RECORD_STEP: OWN,
    Action.READ_PERSONAL_DATA: OWN,
    Action.READ_SEXUAL_VIOLENCE: OWN,
    Action.MAKE_REFERRAL: OWN,
    Action.READ_REFERRAL: OWN,
    Action.READ_PARTNERS: ANY,  # a caseworker chooses among every agency's services
    Action.READ_STATISTICS: OWN,
}

PERMISSIONS: dict[Role, dict[Action, Scope]] = {
    Role.CASEWORKER: _CASEWORK,
    Role.SUPERVISOR: {
        **_CASEWORK,
        Action.APPROVE: OWN,
        Action.DECIDE_BEST_INTERESTS: OWN,
        Action.REASSIGN_CASE: OWN,
        Action.ERASE_CASE: OWN,
        Action.BREAK_GLASS: ANY,
        Action.READ_REPORTS: OWN,
    },
    Role.PARTNER: {
        # The agency of a referral, for these two, is the agency it is addressed to.
        Action.READ_REFERRAL_AS_PARTNER: OWN,
        Action.ANSWER_REFERRAL: OWN,
    },
    Role.AUDITOR: {
        # Case views and lists are the child's personal data: with the grant only.
        Action.READ_CASE: ANY,
        Action.LIST_CASES: ANY,
        Action.READ_HISTORY: ANY,
        Action.CHECK_INTEGRITY: ANY,
        Action.READ_STATISTICS: ANY,
        Action.READ_REPORTS: ANY,
        Action.READ_PERSONAL_DATA: ANY,
        Action.READ_SEXUAL_VIOLENCE: ANY,
    },
    Role.PROGRAMME_MANAGER: {
        # Aggregates under disclosure control only: never a case, a list or a history.
        Action.READ_REPORTS: ANY,
        Action.READ_STATISTICS: ANY,
    },
    Role.ADMIN: {
        Action.REGISTER_PARTNER: ANY,
        Action.READ_PARTNERS: ANY,
        Action.MANAGE_ROLES: ANY,
        Action.MANAGE_KEYS: ANY,
        Action.VIEW_HEALTH_DETAILS: ANY,
    },
}

# A role holding one of these actions needs the grant as well.
GRANT_NEEDED: dict[Role, dict[Action, Grant]] = {
    Role.AUDITOR: {
        Action.READ_CASE: Grant.PERSONAL_DATA,
        Action.LIST_CASES: Grant.PERSONAL_DATA,
        Action.READ_PERSONAL_DATA: Grant.PERSONAL_DATA,
        Action.READ_SEXUAL_VIOLENCE: Grant.SEXUAL_VIOLENCE,
    },
}


@dataclass(frozen=True)
class Caller:
    """Who is calling, as their verified token says."""

    sub: str
    role: Role
    agency: str
    grants: frozenset[Grant] = frozenset()
    token_id: str | None = None


class Outcome(StrEnum):
    ALLOWED = "allowed"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    action: Action
    reason: str

    @property
    def allowed(self) -> bool:
        return self.outcome is Outcome.ALLOWED


def permission(caller: Caller, action: Action) -> Decision:
    """Whether the caller's role (and grants) hold the action at all, whatever the resource:
    what a route can answer before it loads anything."""
    scope = PERMISSIONS[caller.role].get(action)
    if scope is None:
        return Decision(Outcome.FORBIDDEN, action, f"the role {caller.role} does not hold {action}")
    grant = GRANT_NEEDED.get(caller.role, {}).get(action)
    if grant is not None and grant not in caller.grants:
        return Decision(
            Outcome.FORBIDDEN, action, f"{action} needs the {grant} grant for a {caller.role}"
        )
    return Decision(Outcome.ALLOWED, action, f"the role {caller.role} holds {action}")


def decide(caller: Caller, action: Action, agency: str | None) -> Decision:
    """May the caller take this action on a resource of ``agency``? ``None`` is a resource
    of no one agency (the partner registry, the platform's keys, a list across agencies)."""
    held = permission(caller, action)
    if not held.allowed or PERMISSIONS[caller.role][action] is ANY:
        return held
    if agency is None:
        return Decision(Outcome.FORBIDDEN, action, f"{action} is held only within {caller.agency}")
    if agency != caller.agency:
        return Decision(Outcome.NOT_FOUND, action, f"{action} is held only within {caller.agency}")
    return held


def decide_approval(caller: Caller, agency: str | None, requested_by: str) -> Decision:
    """:data:`Action.APPROVE`, and the four-eyes rule: whoever asked for the approval
    (``requested_by``, their ``sub``) cannot give it."""
    decision = decide(caller, Action.APPROVE, agency)
    if decision.allowed and caller.sub == requested_by:
        return Decision(
            Outcome.FORBIDDEN,
            Action.APPROVE,
            "an approval must come from someone other than the person who asked for it",
        )
    return decision
