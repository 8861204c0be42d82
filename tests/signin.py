"""Signing in, for tests: the local signer in a test's own folder, and a tiny app behind it."""

from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI

from shared.access import Action, Caller, Grant, Role
from shared.auth import public, requires
from shared.settings import Settings
from shared.tokens import TokenVerifier, issue_local_token


def local_token(
    settings: Settings,
    role: Role = Role.CASEWORKER,
    *,
    agency: str = "CD-KIN",
    sub: str = "cw-0412",
    grants: frozenset[Grant] = frozenset(),
) -> str:
    return issue_local_token(settings, sub=sub, role=role, agency=agency, grants=grants)


def local_settings(data_dir: Path, **changes) -> Settings:
    return Settings(data_dir=data_dir, **changes)


def app_behind(verifier: TokenVerifier, action: Action = Action.READ_CASE) -> FastAPI:
    """``GET /whoami`` needs ``action`` and answers with the caller; ``GET /open`` is public."""
    app = FastAPI()
    app.state.token_verifier = verifier

    @app.get("/whoami")
    def whoami(caller: Annotated[Caller, Depends(requires(action))]) -> dict[str, object]:
        return {
            "sub": caller.sub,
            "role": caller.role,
            "agency": caller.agency,
            "grants": sorted(caller.grants),
            "token_id": caller.token_id,
        }

    @app.get("/open", dependencies=[Depends(public())])
    def open_to_all() -> dict[str, str]:
        return {"status": "ok"}

    return app


class Tokens:
    """Bearer headers from the local signer whose JWKS ``settings`` point the services at."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def headers(
        self,
        role: Role = Role.CASEWORKER,
        agency: str = "CD-KIN",
        sub: str = "cw-0412",
        grants: frozenset[Grant] = frozenset(),
    ) -> dict[str, str]:
        token = local_token(self.settings, role, agency=agency, sub=sub, grants=grants)
        return {"Authorization": f"Bearer {token}"}


def staff_headers(settings: Settings, **claims) -> dict[str, str]:
    """A caseworker of CD-KIN (cw-0412, the samples' caseworker) unless told otherwise."""
    return Tokens(settings).headers(**claims)


def supervisor_headers(settings: Settings, agency: str = "CD-KIN") -> dict[str, str]:
    """A supervisor (sup-07) of ``agency``: approves, assigns and erases, and does casework."""
    return Tokens(settings).headers(Role.SUPERVISOR, agency=agency, sub="sup-07")


def admin_headers(settings: Settings) -> dict[str, str]:
    """An administrator: registers partners, never reads a case."""
    return Tokens(settings).headers(Role.ADMIN, agency="HW-ADMIN", sub="admin-1")


def partner_headers(settings: Settings, agency: str) -> dict[str, str]:
    """The partner agency ``agency``, reading and answering its own referrals."""
    return Tokens(settings).headers(Role.PARTNER, agency=agency, sub=f"{agency.lower()}-app")
