"""Bearer tokens at the door of a tiny app: what an attacker tries is refused with 401 and the
reason; what Keycloak and Azure AD issue is let in with the right claim paths."""

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient
from pydantic import ValidationError

from shared.access import Action, Grant, Role
from shared.cli import main
from shared.settings import LOCAL_ISSUER, Settings
from shared.tokens import (
    LocalSignerRefused,
    TokenVerifier,
    ensure_local_signing_key,
    local_jwks_file,
    local_signing_key_file,
)
from tests.signin import app_behind, local_settings, local_token

ISSUER = "https://idp.example.org/realms/homeward"
AUDIENCE = "homeward"


class Provider:
    """An identity provider's signing key: RS256 or ES256."""

    def __init__(self, kid: str, alg: str = "RS256") -> None:
        self.kid, self.alg = kid, alg
        if alg == "RS256":
            self.key: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            self.key = ec.generate_private_key(ec.SECP256R1())

    def jwk(self) -> dict[str, Any]:
        algorithm = jwt.get_algorithm_by_name(self.alg)
        public = algorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {**public, "kid": self.kid, "alg": self.alg, "use": "sig"}

    def public_pem(self) -> bytes:
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        return jwt.encode(claims, self.key, algorithm=self.alg, headers={"kid": self.kid, **header})


RSA = Provider("rsa-2026-11")
EC = Provider("ec-2026-11", "ES256")
STRANGER = Provider("rsa-2026-11")  # the same kid, another key


def claims(**changes: Any) -> dict[str, Any]:
    """A valid token's claims; a change to None leaves the claim out."""
    now = int(time.time())
    base = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "cw-0412",
        "iat": now,
        "exp": now + 300,
        "jti": "4f1c",
        "roles": ["caseworker"],
        "agency": "CD-KIN",
    }
    base.update(changes)
    return {name: value for name, value in base.items() if value is not None}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def compact(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    return ".".join(
        [b64(json.dumps(header).encode()), b64(json.dumps(payload).encode()), b64(signature)]
    )


def unsigned() -> str:
    return compact({"alg": "none", "kid": RSA.kid, "typ": "JWT"}, claims())


def hs256_with_the_public_key() -> str:
    header = b64(json.dumps({"alg": "HS256", "kid": RSA.kid, "typ": "JWT"}).encode())
    payload = b64(json.dumps(claims()).encode())
    mac = hmac.new(RSA.public_pem(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(mac)}"


def tampered() -> str:
    header, payload, signature = RSA.sign(claims()).split(".")
    changed = json.loads(base64.urlsafe_b64decode(payload + "=="))
    changed["agency"] = "CD-GOM"
    return f"{header}.{b64(json.dumps(changed).encode())}.{signature}"


def es256_named_as_the_rsa_key() -> str:
    return jwt.encode(claims(), EC.key, algorithm="ES256", headers={"kid": RSA.kid})


def without_kid() -> str:
    return jwt.encode(claims(), RSA.key, algorithm="RS256")


@pytest.fixture
def provider_settings(tmp_path) -> Settings:
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [RSA.jwk(), EC.jwk()]}))
    return Settings(data_dir=tmp_path, auth_issuer=ISSUER, auth_jwks_file=jwks)


def client_for(settings: Settings, action: Action = Action.READ_CASE) -> TestClient:
    return TestClient(app_behind(TokenVerifier(settings), action))


def call(client: TestClient, token: str | None, scheme: str = "Bearer") -> Any:
    headers = {} if token is None else {"Authorization": f"{scheme} {token}"}
    return client.get("/whoami", headers=headers)


ATTACKS = {
    "unsigned (alg none)": (unsigned, "the token is not signed (alg none)"),
    "HS256 with the public key as secret": (
        hs256_with_the_public_key,
        "the algorithm HS256 is not accepted; only RS256, ES256, EdDSA",
    ),
    "another key under a known kid": (
        lambda: STRANGER.sign(claims()),
        "the token's signature does not verify",
    ),
    "payload changed after signing": (tampered, "the token's signature does not verify"),
    "a kid the provider does not publish": (
        lambda: RSA.sign(claims(), kid="rsa-forged"),
        "the token is signed with a key the JWKS file does not hold",
    ),
    "ES256 under an RSA key's kid": (
        es256_named_as_the_rsa_key,
        "the token's algorithm does not match its key",
    ),
    "no kid": (without_kid, "the token names no signing key (kid)"),
    "expired": (
        lambda: RSA.sign(claims(iat=int(time.time()) - 900, exp=int(time.time()) - 120)),
        "the token has expired",
    ),
    "not valid yet": (
        lambda: RSA.sign(claims(nbf=int(time.time()) + 600)),
        "the token is not valid yet",
    ),
    "another audience": (
        lambda: RSA.sign(claims(aud="another-app")),
        "the token is meant for another audience",
    ),
    "another issuer": (
        lambda: RSA.sign(claims(iss="https://idp.example.org/realms/other")),
        "the token comes from another issuer",
    ),
    "no sub": (lambda: RSA.sign(claims(sub=None)), "the token has no sub claim"),
    "no exp": (lambda: RSA.sign(claims(exp=None)), "the token has no exp claim"),
    "no aud": (lambda: RSA.sign(claims(aud=None)), "the token has no aud claim"),
    "no iss": (lambda: RSA.sign(claims(iss=None)), "the token has no iss claim"),
    "no iat": (lambda: RSA.sign(claims(iat=None)), "the token has no iat claim"),
    "no role": (lambda: RSA.sign(claims(roles=None)), "the token has no Homeward role at roles"),
    "only other roles": (
        lambda: RSA.sign(claims(roles=["offline_access"])),
        "the token has no Homeward role at roles",
    ),
    "two roles": (
        lambda: RSA.sign(claims(roles=["caseworker", "admin"])),
        "the token has more than one Homeward role at roles",
    ),
    "no agency": (lambda: RSA.sign(claims(agency=None)), "the token has no agency at agency"),
    "an agency that is no code": (
        lambda: RSA.sign(claims(agency="kin shasa")),
        "the token's agency is not an agency code",
    ),
    "malformed": (lambda: "not-a-token", "the token is malformed"),
    "three segments of garbage": (lambda: "a.b.c", "the token is malformed"),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_an_untrustworthy_token_is_401_with_its_reason(provider_settings, attack):
    make_token, reason = ATTACKS[attack]

    response = call(client_for(provider_settings), make_token())

    assert response.status_code == 401
    assert response.json() == {"detail": reason}
    assert response.headers["WWW-Authenticate"] == (
        f'Bearer realm="homeward", error="invalid_token", error_description="{reason}"'
    )


@pytest.mark.parametrize("scheme", ["Bearer", "Basic"])
def test_no_bearer_token_is_401_with_a_challenge_and_no_error_code(provider_settings, scheme):
    client = client_for(provider_settings)

    response = call(client, None) if scheme == "Bearer" else call(client, "dTpw", "Basic")

    assert response.status_code == 401
    assert response.json() == {"detail": "no bearer token: sign in first"}
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="homeward"'


def test_a_public_route_needs_no_token(provider_settings):
    response = client_for(provider_settings).get("/open")

    assert response.status_code == 200


@pytest.mark.parametrize("signer", [RSA, EC], ids=["RS256", "ES256"])
def test_a_valid_token_names_the_caller(provider_settings, signer):
    response = call(client_for(provider_settings), signer.sign(claims()))

    assert response.status_code == 200
    assert response.json() == {
        "sub": "cw-0412",
        "role": "caseworker",
        "agency": "CD-KIN",
        "grants": [],
        "token_id": "4f1c",
    }


def test_the_leeway_forgives_a_little_clock_skew_and_no_more(provider_settings):
    now = int(time.time())
    client = client_for(provider_settings.model_copy(update={"auth_leeway_seconds": 30}))

    just_expired = RSA.sign(claims(iat=now - 600, exp=now - 10))
    long_expired = RSA.sign(claims(iat=now - 600, exp=now - 60))

    assert call(client, just_expired).status_code == 200
    assert call(client, long_expired).status_code == 401


def keycloak_token() -> str:
    """Shaped like a Keycloak access token with realm roles and an `agency` user attribute."""
    return RSA.sign(
        claims(
            roles=None,
            typ="Bearer",
            azp="homeward",
            realm_access={"roles": ["offline_access", "default-roles-homeward", "supervisor"]},
            resource_access={"account": {"roles": ["manage-account"]}},
            preferred_username="amina.k",
            sub="8d7f5c2e-1b1a-4d8e-9a57-3c0f6a2b9e11",
        )
    )


def test_a_keycloak_token_with_realm_roles(provider_settings):
    keycloak = provider_settings.model_copy(update={"auth_roles_claim": "realm_access.roles"})

    accepted = call(client_for(keycloak), keycloak_token())
    refused = call(client_for(provider_settings), keycloak_token())

    assert accepted.status_code == 200
    assert accepted.json()["role"] == "supervisor"
    assert accepted.json()["sub"] == "8d7f5c2e-1b1a-4d8e-9a57-3c0f6a2b9e11"
    assert refused.status_code == 401, "the roles are not where the default path looks"


def test_an_azure_ad_token_with_app_roles_grants_and_an_extension_agency(tmp_path):
    tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
    client_id = "6e74172b-be56-4843-9ff4-e66a39bb12e3"
    issuer = f"https://login.microsoftonline.com/{tenant}/v2.0"
    jwks = tmp_path / "keys.json"
    jwks.write_text(json.dumps({"keys": [RSA.jwk()]}))
    azure = Settings(
        data_dir=tmp_path,
        auth_issuer=issuer,
        auth_audience=client_id,
        auth_jwks_file=jwks,
        auth_roles_claim="roles",
        auth_grants_claim="roles",  # grants given as app roles too
        auth_agency_claim="extn.agency",
    )
    token = RSA.sign(
        claims(
            iss=issuer,
            aud=client_id,
            agency=None,
            roles=["auditor", "personal-data"],
            tid=tenant,
            oid="0b5bd4c1-2f6e-4c1d-8a5e-9f3d2a1b0c7d",
            ver="2.0",
            **{"extn.agency": "UN-AUDIT"},
        )
    )

    response = call(client_for(azure, Action.READ_PERSONAL_DATA), token)

    assert response.status_code == 200
    assert response.json()["role"] == "auditor"
    assert response.json()["agency"] == "UN-AUDIT"
    assert response.json()["grants"] == ["personal-data"]


class JwksServer:
    """The identity provider's JWKS endpoint on 127.0.0.1, counting its fetches."""

    def __init__(self, keys: list[dict[str, Any]]) -> None:
        self.keys = keys
        self.fetches = 0
        served = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                served.fetches += 1
                body = json.dumps({"keys": served.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/protocol/openid-connect/certs"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    server = JwksServer([RSA.jwk()])
    yield server
    server.stop()


def test_jwks_url_keys_are_cached_and_a_rotated_key_fetched(tmp_path, jwks_server):
    settings = Settings(
        data_dir=tmp_path,
        auth_issuer=ISSUER,
        auth_jwks_url=jwks_server.url,
        auth_jwks_refetch_seconds=0,
    )
    client = client_for(settings)

    assert call(client, RSA.sign(claims())).status_code == 200
    assert call(client, RSA.sign(claims())).status_code == 200
    assert jwks_server.fetches == 1, "the key set is cached"

    rotated = Provider("ec-2026-12", "ES256")
    jwks_server.keys = [RSA.jwk(), rotated.jwk()]
    response = call(client, rotated.sign(claims(sub="cw-0413")))

    assert response.status_code == 200
    assert response.json()["sub"] == "cw-0413"
    assert jwks_server.fetches == 2, "a kid not seen yet fetches the key set again"


def test_a_kid_the_jwks_url_does_not_publish_is_401(tmp_path, jwks_server):
    settings = Settings(data_dir=tmp_path, auth_issuer=ISSUER, auth_jwks_url=jwks_server.url)

    response = call(client_for(settings), STRANGER.sign(claims(), kid="rsa-forged"))

    assert response.status_code == 401
    assert "does not publish" in response.json()["detail"]


def test_an_unreachable_jwks_url_is_503_not_the_caller_s_fault(tmp_path, jwks_server):
    settings = Settings(data_dir=tmp_path, auth_issuer=ISSUER, auth_jwks_url=jwks_server.url)
    jwks_server.stop()

    response = call(client_for(settings), RSA.sign(claims()))

    assert response.status_code == 503


class TestTheLocalSigner:
    def test_homeward_token_prints_a_token_the_services_accept(self, tmp_path, monkeypatch, capsys):
        monkeypatch.setenv("HOMEWARD_DATA_DIR", str(tmp_path))
        argv = ["token", "--role", "auditor", "--agency", "CD-KIN", "--sub", "au-0001"]
        grants = ["--grant", "personal-data", "--grant", "sexual-violence", "--minutes", "5"]

        assert main([*argv, *grants]) == 0
        token = capsys.readouterr().out.strip()

        caller = TokenVerifier(local_settings(tmp_path)).verify(token)
        assert (caller.sub, caller.role, caller.agency) == ("au-0001", Role.AUDITOR, "CD-KIN")
        assert caller.grants == {Grant.PERSONAL_DATA, Grant.SEXUAL_VIOLENCE}
        lifetime = jwt.decode(token, options={"verify_signature": False})
        assert lifetime["exp"] - lifetime["iat"] == 300

    def test_a_local_token_follows_the_configured_claim_paths(self, tmp_path):
        settings = local_settings(tmp_path, auth_roles_claim="realm_access.roles")

        token = local_token(settings, Role.SUPERVISOR)

        assert jwt.decode(token, options={"verify_signature": False})["realm_access"] == {
            "roles": ["supervisor"]
        }
        assert TokenVerifier(settings).verify(token).role is Role.SUPERVISOR

    def test_homeward_token_refuses_in_production(self, tmp_path, monkeypatch, capsys):
        monkeypatch.setenv("HOMEWARD_DATA_DIR", str(tmp_path))
        monkeypatch.setenv("HOMEWARD_ENVIRONMENT", "production")
        monkeypatch.setenv("HOMEWARD_AUTH_ISSUER", ISSUER)
        monkeypatch.setenv("HOMEWARD_AUTH_JWKS_URL", "https://idp.example.org/certs")

        code = main(["token", "--role", "admin", "--agency", "CD-KIN", "--sub", "ad-1"])

        assert code == 2
        assert "not used in production" in capsys.readouterr().err
        assert not local_signing_key_file(local_settings(tmp_path)).exists()

    def test_homeward_token_refuses_while_a_provider_is_configured(self, provider_settings):
        with pytest.raises(LocalSignerRefused, match="verified against"):
            local_token(provider_settings)

    def test_the_key_is_made_once_and_kept_from_others(self, tmp_path):
        settings = local_settings(tmp_path)

        path = ensure_local_signing_key(settings)
        first = (path.read_bytes(), local_jwks_file(settings).read_text())
        ensure_local_signing_key(settings)

        assert (path.read_bytes(), local_jwks_file(settings).read_text()) == first
        assert path.stat().st_mode & 0o777 == 0o600
        assert "PRIVATE" not in local_jwks_file(settings).read_text()

    def test_production_settings_refuse_the_local_signer(self, tmp_path):
        with pytest.raises(ValidationError, match="local use only"):
            Settings(data_dir=tmp_path, environment="production")
        with pytest.raises(ValidationError, match="never in production"):
            Settings(
                environment="production",
                auth_issuer=LOCAL_ISSUER,
                auth_jwks_file=tmp_path / "local-signer.jwks.json",
            )
        with pytest.raises(ValidationError, match="https in production"):
            Settings(environment="production", auth_issuer=ISSUER, auth_jwks_url="http://idp/k")

    def test_a_local_token_is_refused_where_the_provider_s_issuer_is_expected(self, tmp_path):
        local = local_settings(tmp_path)
        token = local_token(local)
        production = Settings(
            environment="production", auth_issuer=ISSUER, auth_jwks_file=local_jwks_file(local)
        )

        response = call(client_for(production), token)

        assert response.status_code == 401
        assert response.json()["detail"] == "the token comes from another issuer"
