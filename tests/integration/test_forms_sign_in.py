"""Signing in to the forms: OpenID Connect's code flow with PKCE, here against the forms' local
issuer, the forms' app alone (its calls to the issuer go through the same test client)."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from services.web.localissuer import LocalIssuer
from services.web.oidc import pkce_challenge
from services.web.service import build_runtime, create_app
from services.web.session import SESSION_COOKIE, SIGN_IN_COOKIE
from services.web.settings import WebSettings
from shared.keyring import generate_master_key
from shared.tokens import TokenVerifier


@pytest.fixture
def forms(tmp_path):
    settings = WebSettings(data_dir=tmp_path)
    runtime = build_runtime(settings)
    client = TestClient(create_app(runtime), base_url=settings.service_url("web"))
    runtime.oidc.http = client  # the issuer is the same app: reached through the client
    return client


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page[:500]
    return found.group(1)


def authorized(forms: TestClient, role: str = "caseworker") -> tuple[str, str, dict]:
    """Start signing in and pick a user at the local issuer: the redirect to the forms'
    callback (the code and state), and what the forms asked the issuer for."""
    start = forms.get("/sign-in/start", follow_redirects=False)
    assert start.status_code == 303
    asked = {k: v[0] for k, v in parse_qs(urlsplit(start.headers["location"]).query).items()}
    page = forms.get(start.headers["location"])
    fields = {
        name: asked[name]
        for name in ("client_id", "redirect_uri", "state", "nonce", "code_challenge")
    }
    answer = forms.post(
        "/local-issuer/authorize",
        data={
            **fields,
            "role": role,
            "agency": "CD-KIN",
            "sub": "cw-0412",
            "csrf": csrf_of(page.text),
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    back = {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["location"]).query).items()}
    return back["code"], back["state"], asked


def test_the_forms_ask_for_a_code_with_pkce_s256_a_state_and_a_nonce(forms):
    _, state, asked = authorized(forms)
    assert asked["response_type"] == "code"
    assert asked["code_challenge_method"] == "S256"
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", asked["code_challenge"])
    assert state == asked["state"]
    assert len(asked["nonce"]) >= 32
    # What the forms will need to finish is sealed in a cookie: no verifier in sight.
    sealed = forms.cookies[SIGN_IN_COOKIE]
    assert asked["state"] not in sealed
    assert "verifier" not in sealed


def test_signing_in_ends_with_the_token_sealed_in_an_http_only_cookie(forms):
    code, state, _ = authorized(forms)
    finished = forms.get(
        "/signed-in", params={"code": code, "state": state}, follow_redirects=False
    )
    assert finished.status_code == 303
    cookie = next(
        c for c in finished.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE)
    )
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "eyJ" not in cookie  # no JWT readable in it: sealed
    home = forms.get("/", follow_redirects=False)
    assert home.headers["location"] == "/cases"
    # The callback cannot be replayed: the sign-in it answered is over.
    again = forms.get("/signed-in", params={"code": code, "state": state})
    assert again.status_code == 401


def test_a_code_is_refused_without_its_verifier_and_is_spent_by_the_attempt(forms):
    code, _, asked = authorized(forms)
    exchange = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": asked["redirect_uri"],
        "client_id": asked["client_id"],
    }
    wrong = forms.post("/local-issuer/token", data={**exchange, "code_verifier": "x" * 43})
    assert (wrong.status_code, wrong.json()) == (400, {"error": "invalid_grant"})
    # Even the right verifier comes too late: a code is tried once.
    verifier = "v" * 43
    assert pkce_challenge(verifier) != asked["code_challenge"]
    late = forms.post("/local-issuer/token", data={**exchange, "code_verifier": verifier})
    assert late.status_code == 400


def test_a_callback_with_another_state_signs_no_one_in(forms):
    code, _, _ = authorized(forms)
    forged = forms.get("/signed-in", params={"code": code, "state": "forged"})
    assert forged.status_code == 401
    assert forms.get("/", follow_redirects=False).headers["location"] == "/sign-in"


def test_the_issued_token_is_one_every_service_accepts(forms, tmp_path):
    code, state, _ = authorized(forms, role="supervisor")
    forms.get("/signed-in", params={"code": code, "state": state})
    runtime = forms.app.state.runtime
    sealed = forms.cookies[SESSION_COOKIE]
    session = runtime.sealer.open(SESSION_COOKIE, sealed)
    caller = TokenVerifier(WebSettings(data_dir=tmp_path)).verify(session["token"])
    assert (caller.sub, caller.role, caller.agency) == ("cw-0412", "supervisor", "CD-KIN")


def test_every_form_needs_the_sessions_csrf_token(forms):
    forms.get("/sign-in")
    refused = forms.post("/language", data={"code": "fr", "csrf": "guessed"})
    assert refused.status_code == 403
    accepted = forms.post(
        "/language",
        data={"code": "fr", "csrf": csrf_of(forms.get("/sign-in").text)},
        follow_redirects=False,
    )
    assert accepted.status_code == 303
    assert forms.get("/sign-in").text.startswith('<!doctype html>\n<html lang="fr" dir="ltr">')


def test_production_signs_in_at_the_identity_provider_only(tmp_path):
    provider = {
        "environment": "production",
        "auth_issuer": "https://id.example.org/realms/homeward",
        "auth_jwks_url": "https://id.example.org/realms/homeward/certs",
        "data_dir": tmp_path,
    }
    with pytest.raises(ValidationError, match="HOMEWARD_WEB_OIDC_ISSUER"):
        WebSettings(**provider)
    settings = WebSettings(
        **provider,
        web_oidc_issuer="https://id.example.org/realms/homeward",
        web_cookie_key=generate_master_key(),
        web_secure_cookies=True,
    )
    assert not settings.issues_locally
    with pytest.raises(RuntimeError, match="local issuer"):
        LocalIssuer(settings)
    paths = {getattr(route, "path", "") for route in create_app(build_runtime(settings)).routes}
    assert not any(path.startswith("/local-issuer") for path in paths)
