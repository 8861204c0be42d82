"""Bearer tokens: verified against the identity provider's keys, read into a :class:`Caller`.

Only asymmetric signatures are accepted (RS256, ES256, EdDSA), so that no shared secret exists
and a public key can never be used as an HMAC secret. The key is the one the token's ``kid``
names in the provider's JWKS (fetched from its URL, cached, and fetched again when a key id not
seen yet arrives, which is how a key rotation is picked up) or in a JWKS file. ``iss``, ``aud``,
``exp``, ``iat`` and ``sub`` must be present and right; ``nbf`` is checked when present.

Where a provider puts the roles and the agency is configured as dotted claim paths
(``realm_access.roles`` for Keycloak's realm roles, ``roles`` for Azure AD's app roles).

For local use, :func:`ensure_local_signing_key` makes an Ed25519 key under the data folder and
writes its public JWKS there; :func:`issue_local_token` signs with it (`homeward token`).
Production settings refuse both.
"""

import json
import os
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from pathlib import Path
from threading import Lock
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm
from jwt.exceptions import InvalidSubjectError
from jwt.utils import base64url_encode

from shared.access import AGENCY_CODE_PATTERN, Caller, Grant, Role
from shared.settings import LOCAL_ISSUER, Settings

ALGORITHMS = ("RS256", "ES256", "EdDSA")
REQUIRED_CLAIMS = ["exp", "iat", "sub", "iss", "aud"]
AGENCY_CODE = re.compile(AGENCY_CODE_PATTERN)
JWKS_FETCH_TIMEOUT_SECONDS = 5
LONGEST_LOCAL_TOKEN_MINUTES = 60


class InvalidToken(Exception):
    """The token cannot be trusted; the message says why, without echoing its content."""


class KeysUnavailable(Exception):
    """The identity provider's keys cannot be had: no caller is at fault, none is let in."""


class LocalSignerRefused(RuntimeError):
    """The local signer was asked for where it must not be used."""


class SigningKeys(Protocol):
    def key_for(self, kid: str) -> jwt.PyJWK: ...


class JwksUrlKeys:
    """The provider's JWKS endpoint, through PyJWT's client (cache, refetch on a new kid)."""

    def __init__(self, url: str, *, cache_seconds: float, refetch_seconds: float) -> None:
        self._client = jwt.PyJWKClient(
            url,
            lifespan=cache_seconds,
            cooldown_duration=refetch_seconds,
            timeout=JWKS_FETCH_TIMEOUT_SECONDS,
        )

    def key_for(self, kid: str) -> jwt.PyJWK:
        try:
            return self._client.get_signing_key(kid)
        except jwt.PyJWKClientConnectionError as error:
            raise KeysUnavailable(
                f"the identity provider's keys cannot be fetched: {error}"
            ) from error
        except jwt.PyJWKSetError as error:
            raise KeysUnavailable(f"the identity provider's JWKS is unusable: {error}") from error
        except jwt.PyJWKClientError:
            raise InvalidToken(
                "the token is signed with a key the identity provider does not publish"
            ) from None


class JwksFileKeys:
    """A JWKS file, read again whenever it changes (a rotated local key, a deployed file)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = Lock()
        self._read: tuple[int, dict[str, jwt.PyJWK]] | None = None

    def key_for(self, kid: str) -> jwt.PyJWK:
        try:
            keys = self._keys()
        except (OSError, ValueError, jwt.PyJWTError) as error:
            raise KeysUnavailable(f"the JWKS file {self._path} is unusable: {error}") from error
        if kid not in keys:
            raise InvalidToken("the token is signed with a key the JWKS file does not hold")
        return keys[kid]

    def _keys(self) -> dict[str, jwt.PyJWK]:
        with self._lock:
            modified = self._path.stat().st_mtime_ns
            if self._read is None or self._read[0] != modified:
                key_set = jwt.PyJWKSet.from_json(self._path.read_text())
                self._read = (modified, _signing_keys_by_id(key_set))
            return self._read[1]


def _signing_keys_by_id(key_set: jwt.PyJWKSet) -> dict[str, jwt.PyJWK]:
    return {
        key.key_id: key
        for key in key_set.keys
        if key.key_id and key.public_key_use in ("sig", None)
    }


def signing_keys(settings: Settings) -> SigningKeys:
    if settings.auth_jwks_url is not None:
        return JwksUrlKeys(
            settings.auth_jwks_url,
            cache_seconds=settings.auth_jwks_cache_seconds,
            refetch_seconds=settings.auth_jwks_refetch_seconds,
        )
    return JwksFileKeys(settings.auth_jwks_file or local_jwks_file(settings))


class TokenVerifier:
    """Verifies a bearer token and says who the caller is."""

    def __init__(self, settings: Settings) -> None:
        self._issuer = settings.auth_issuer or LOCAL_ISSUER
        self._audience = settings.auth_audience
        self._leeway = settings.auth_leeway_seconds
        self._settings = settings
        self._keys = signing_keys(settings)

    def verify(self, token: str) -> Caller:
        """The caller the token names, or :class:`InvalidToken` saying why not (or
        :class:`KeysUnavailable` when the keys to check it cannot be had)."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("the token is malformed") from None
        kid = header.get("kid")
        _check_algorithm(header.get("alg"))
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("the token names no signing key (kid)")
        try:
            claims = jwt.decode(
                token,
                key=self._keys.key_for(kid),
                algorithms=list(ALGORITHMS),
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.PyJWTError as error:
            raise InvalidToken(_reason(error)) from None
        return caller_from_claims(claims, self._settings)


def _check_algorithm(alg: object) -> None:
    if alg is None or (isinstance(alg, str) and alg.lower() == "none"):
        raise InvalidToken("the token is not signed (alg none)")
    if alg not in ALGORITHMS:
        named = alg if isinstance(alg, str) and re.fullmatch(r"[A-Za-z0-9]{1,10}", alg) else "?"
        raise InvalidToken(f"the algorithm {named} is not accepted; only {', '.join(ALGORITHMS)}")


def _reason(error: jwt.PyJWTError) -> str:
    # The most specific classes first: several derive from DecodeError or InvalidTokenError.
    reasons: list[tuple[type[jwt.PyJWTError], str]] = [
        (jwt.ExpiredSignatureError, "the token has expired"),
        (jwt.ImmatureSignatureError, "the token is not valid yet"),
        (jwt.InvalidAudienceError, "the token is meant for another audience"),
        (jwt.InvalidIssuerError, "the token comes from another issuer"),
        (jwt.InvalidSignatureError, "the token's signature does not verify"),
        (jwt.InvalidAlgorithmError, "the token's algorithm does not match its key"),
        (jwt.InvalidIssuedAtError, "the token's iat is not a time"),
        (InvalidSubjectError, "the token's sub is not a string"),
        (jwt.DecodeError, "the token is malformed"),
    ]
    if isinstance(error, jwt.MissingRequiredClaimError):
        return f"the token has no {error.claim} claim"
    return next(
        (reason for kind, reason in reasons if isinstance(error, kind)), "the token is invalid"
    )


def claim_at(claims: Mapping[str, Any], path: str) -> Any:
    """The claim at a dotted path, or None. A name that itself holds dots (an Azure AD
    extension, a URL-named claim) is taken whole before the path is split."""
    if path in claims:
        return claims[path]
    head, _, rest = path.partition(".")
    inner = claims.get(head)
    return claim_at(inner, rest) if rest and isinstance(inner, Mapping) else None


def _names_at(claims: Mapping[str, Any], path: str) -> set[str]:
    value = claim_at(claims, path)
    if isinstance(value, str):
        return {value}
    if isinstance(value, list):
        return {item for item in value if isinstance(item, str)}
    return set()


def caller_from_claims(claims: Mapping[str, Any], settings: Settings) -> Caller:
    """The caller, from claims whose signature and registered claims were checked."""
    sub = claims["sub"]
    if not sub:
        raise InvalidToken("the token's sub is empty")
    # Providers put other roles in the same list (Keycloak's offline_access...): only
    # Homeward's count, and a person acts in one of them at a time.
    roles_at, agency_at = settings.auth_roles_claim, settings.auth_agency_claim
    roles = {Role(name) for name in _names_at(claims, roles_at) if name in set(Role)}
    if not roles:
        raise InvalidToken(f"the token has no Homeward role at {roles_at}")
    if len(roles) > 1:
        raise InvalidToken(f"the token has more than one Homeward role at {roles_at}")
    agency = claim_at(claims, agency_at)
    if agency is None:
        raise InvalidToken(f"the token has no agency at {agency_at}")
    if not isinstance(agency, str) or not AGENCY_CODE.fullmatch(agency):
        raise InvalidToken(f"the token's {agency_at} is not an agency code")
    grants = {
        Grant(name) for name in _names_at(claims, settings.auth_grants_claim) if name in set(Grant)
    }
    token_id = claims.get("jti")
    return Caller(
        sub=sub,
        role=roles.pop(),
        agency=agency,
        grants=frozenset(grants),
        token_id=token_id if isinstance(token_id, str) else None,
    )


def local_signing_key_file(settings: Settings) -> Path:
    """Where `homeward up` keeps the local signer's private key."""
    return settings.data_dir / "local-signer.key"


def local_jwks_file(settings: Settings) -> Path:
    """The local signer's public key as a JWKS: what the services verify local tokens with."""
    return settings.data_dir / "local-signer.jwks.json"


def _refuse_outside_local(settings: Settings) -> None:
    if not settings.signs_in_locally:
        where = (
            "in production"
            if settings.environment == "production"
            else f"while tokens are verified against {settings.auth_issuer}"
        )
        raise LocalSignerRefused(f"the local token signer is not used {where}")


def ensure_local_signing_key(settings: Settings) -> Path:
    """For local runs: an Ed25519 signing key readable by its owner only, made once, and its
    public JWKS beside it. Returns the private key's path."""
    _refuse_outside_local(settings)
    path = local_signing_key_file(settings)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as key_file:
            key_file.write(pem)
    jwks = json.dumps({"keys": [_public_jwk(_load_local_key(path))]}, indent=2) + "\n"
    jwks_path = local_jwks_file(settings)
    if not jwks_path.exists() or jwks_path.read_text() != jwks:
        # Replaced whole, so that a service never reads half a file.
        staged = jwks_path.with_suffix(".tmp")
        staged.write_text(jwks)
        staged.replace(jwks_path)
    return path


def _load_local_key(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise LocalSignerRefused(f"{path} does not hold an Ed25519 key")
    return key


def _public_jwk(key: Ed25519PrivateKey) -> dict[str, str]:
    jwk = OKPAlgorithm.to_jwk(key.public_key(), as_dict=True)
    # The RFC 7638 thumbprint: the same key always gets the same id, a new key a new one.
    canonical = json.dumps(
        {name: jwk[name] for name in ("crv", "kty", "x")}, separators=(",", ":"), sort_keys=True
    )
    kid = base64url_encode(sha256(canonical.encode()).digest()).decode()
    return {**jwk, "kid": kid, "alg": "EdDSA", "use": "sig"}


def _put_at(claims: dict[str, Any], path: str, value: str | list[str]) -> None:
    """Where :func:`claim_at` will find it; lists at one path (roles and grants may share
    one) are joined."""
    *parents, name = path.split(".")
    for parent in parents:
        claims = claims.setdefault(parent, {})
    claims[name] = [*claims.get(name, []), *value] if isinstance(value, list) else value


def issue_local_token(
    settings: Settings,
    *,
    sub: str,
    role: Role,
    agency: str,
    grants: frozenset[Grant] = frozenset(),
    minutes: int = 15,
    audience: str | None = None,
    nonce: str | None = None,
) -> str:
    """A short-lived token from the local signer, shaped by the same claim paths the
    services read. The forms' local issuer asks for an ID token with it: for its client
    (``audience``), naming the sign-in it answers (``nonce``)."""
    key = _load_local_key(ensure_local_signing_key(settings))
    if not 1 <= minutes <= LONGEST_LOCAL_TOKEN_MINUTES:
        raise ValueError(f"minutes must be 1 to {LONGEST_LOCAL_TOKEN_MINUTES}")
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "iss": LOCAL_ISSUER,
        "aud": audience or settings.auth_audience,
        "sub": sub,
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(minutes=minutes),
        "jti": str(uuid.uuid4()),
    }
    if nonce is not None:
        claims["nonce"] = nonce
    _put_at(claims, settings.auth_roles_claim, [str(role)])
    _put_at(claims, settings.auth_grants_claim, sorted(grants))
    _put_at(claims, settings.auth_agency_claim, agency)
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": _public_jwk(key)["kid"]})
