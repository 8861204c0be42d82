"""The platform's settings, read once from the environment (prefix ``HOMEWARD_``).

Persistence is not configured here: the event stores follow the eventsourcing library's own
variables (``PERSISTENCE_MODULE``, ``SQLITE_DBNAME``, ``POSTGRES_*``, each optionally prefixed
with the service's name, e.g. ``INTAKE_POSTGRES_DBNAME``); see :mod:`shared.persistence`.
"""

from pathlib import Path
from typing import Literal, Self
from urllib.parse import urlparse

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[1]

# A service's public address: http(s), no trailing slash, query or fragment, since the paths
# of its schemas are appended to it.
SERVICE_URL = r"^https?://[^/?#]+(/[^?#]*[^/?#])?$"

# The issuer of the tokens `homeward token` signs on a developer's machine.
LOCAL_ISSUER = "urn:homeward:local-signer"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOMEWARD_", extra="ignore")

    kafka_bootstrap: str | None = Field(
        default=None,
        description="host:port of Kafka brokers; unset means `homeward up` starts a local one.",
    )
    # The checkout's own folder, whatever the working directory: a command run elsewhere finds
    # the platform it started, not an empty `var/` of its own.
    data_dir: Path = Field(
        default=REPO_ROOT / "var", description="SQLite files, broker data, logs."
    )
    host: str = "127.0.0.1"
    intake_port: int = 8001
    referral_port: int = 8002
    followup_port: int = 8003
    local_broker_port: int = 9092
    intake_url: str | None = Field(
        default=None,
        pattern=SERVICE_URL,
        description="Where the intake service is reached over HTTP (its published schemas, "
        "named in each message's dataschema); unset: http://<host>:<intake_port>.",
    )
    referral_url: str | None = Field(
        default=None,
        pattern=SERVICE_URL,
        description="Where partners reach the referral service over HTTP; as intake_url.",
    )
    followup_url: str | None = Field(
        default=None,
        pattern=SERVICE_URL,
        description="Where the follow-up service is reached over HTTP; as intake_url.",
    )
    # How long an idle relay waits before it looks for new events again: the most an event
    # waits before it is sent. A look is one indexed query; 20 a second cost little.
    relay_poll_seconds: float = Field(default=0.05, gt=0)
    relay_batch_size: int = Field(default=500, gt=0)
    audit_checkpoint_seconds: float = Field(
        default=60,
        gt=0,
        description="How often a service publishes its event chain's head to "
        "homeward.audit.checkpoints (when it moved; and when the service stops).",
    )
    kafka_timeout_seconds: float = Field(
        default=10.0, gt=0, description="How long a publish may wait for the broker's ack."
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT",
        description="How clients reach the broker: SASL_SSL in production (TLS and a password), "
        "SASL_PLAINTEXT for the local broker on loopback.",
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256"] = Field(
        default="SCRAM-SHA-512", description="The SASL mechanism the broker's listener offers."
    )
    kafka_credentials_dir: Path | None = Field(
        default=None,
        description="A folder holding `<principal>.password` files (e.g. "
        "`homeward-intake.password`), each readable by its owner only; every Kafka client "
        "reads the file of the principal it acts as.",
    )
    kafka_ssl_cafile: Path | None = Field(
        default=None,
        description="PEM file of the CA that signed the broker's certificate (SASL_SSL); unset "
        "means the system's trusted CAs.",
    )
    master_key: SecretStr | None = Field(
        default=None, description="Base64 of 32 random bytes: wraps every case's data key."
    )
    master_key_file: Path | None = Field(
        default=None, description="A file holding the master key, if not given directly."
    )
    max_request_bytes: int = Field(
        default=64 * 1024, gt=0, description="Larger request bodies are refused with 413."
    )
    health_max_relay_waiting: int = Field(
        default=10_000,
        gt=0,
        description="More recorded events than this waiting for a relay: /healthz is degraded.",
    )
    health_max_consumer_lag: int = Field(
        default=10_000,
        gt=0,
        description="More messages than this behind on a topic, for a consumer: /healthz is "
        "degraded.",
    )
    health_stuck_seconds: float = Field(
        default=60,
        gt=0,
        description="A consumer failing for longer than this (a message retried, a broker "
        "unreachable) is stuck: /healthz is degraded.",
    )
    environment: Literal["local", "production"] = Field(
        default="local",
        description="production refuses the local token signer and requires the identity "
        "provider's issuer and keys.",
    )
    auth_issuer: str | None = Field(
        default=None,
        description="The identity provider's issuer (the tokens' iss); unset locally means "
        "the local signer's.",
    )
    auth_audience: str = Field(
        default="homeward", description="What the tokens' aud must name: Homeward's client id."
    )
    auth_jwks_url: str | None = Field(
        default=None,
        description="The identity provider's JWKS endpoint, fetched, cached and fetched again "
        "for a key id not seen yet.",
    )
    auth_jwks_file: Path | None = Field(
        default=None, description="A JWKS file to verify against instead of a URL."
    )
    auth_roles_claim: str = Field(
        default="roles",
        description="Dotted path to the list of roles: `roles` (Azure AD), "
        "`realm_access.roles` (Keycloak realm roles).",
    )
    auth_agency_claim: str = Field(
        default="agency", description="Dotted path to the caller's agency code."
    )
    auth_grants_claim: str = Field(
        default="grants",
        description="Dotted path to the list of grants (personal-data, sexual-violence); may "
        "be the roles claim.",
    )
    auth_leeway_seconds: float = Field(
        default=30, ge=0, le=300, description="Clock skew allowed on exp, nbf and iat."
    )
    auth_jwks_cache_seconds: float = Field(
        default=300, gt=0, description="How long a fetched JWKS is used before it is fetched again."
    )
    auth_jwks_refetch_seconds: float = Field(
        default=30,
        ge=0,
        description="The least time between two fetches caused by an unknown key id, so that "
        "forged key ids cannot flood the identity provider.",
    )

    @model_validator(mode="after")
    def _tokens_have_one_known_signer(self) -> Self:
        if self.auth_jwks_url is not None and self.auth_jwks_file is not None:
            raise ValueError("set HOMEWARD_AUTH_JWKS_URL or HOMEWARD_AUTH_JWKS_FILE, not both")
        keys_given = self.auth_jwks_url is not None or self.auth_jwks_file is not None
        if keys_given != (self.auth_issuer is not None):
            raise ValueError(
                "HOMEWARD_AUTH_ISSUER and the identity provider's keys "
                "(HOMEWARD_AUTH_JWKS_URL or HOMEWARD_AUTH_JWKS_FILE) go together"
            )
        jwks_scheme = urlparse(self.auth_jwks_url or "").scheme
        if self.auth_jwks_url is not None and jwks_scheme not in ("http", "https"):
            raise ValueError("HOMEWARD_AUTH_JWKS_URL must be an http(s) URL")
        if self.environment == "production":
            if not keys_given:
                raise ValueError(
                    "production verifies the identity provider's tokens: set "
                    "HOMEWARD_AUTH_ISSUER and HOMEWARD_AUTH_JWKS_URL (the local signer is for "
                    "local use only)"
                )
            if self.auth_issuer == LOCAL_ISSUER:
                raise ValueError(f"{LOCAL_ISSUER} is the local signer: never in production")
            # Whoever can alter the keys in transit could sign in as anyone.
            if self.auth_jwks_url is not None and jwks_scheme != "https":
                raise ValueError("HOMEWARD_AUTH_JWKS_URL must be https in production")
        return self

    @model_validator(mode="after")
    def _kafka_logins_are_complete(self) -> Self:
        if self.kafka_security_protocol != "PLAINTEXT" and self.kafka_credentials_dir is None:
            raise ValueError(
                f"HOMEWARD_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs "
                "HOMEWARD_KAFKA_CREDENTIALS_DIR, the folder of the principals' password files"
            )
        if self.kafka_ssl_cafile is not None and self.kafka_security_protocol != "SASL_SSL":
            raise ValueError(
                "HOMEWARD_KAFKA_SSL_CAFILE is for HOMEWARD_KAFKA_SECURITY_PROTOCOL=SASL_SSL"
            )
        # Partner referrals and every event about a child cross this connection: in
        # production, never without TLS and never without the service's own principal.
        if (
            self.environment == "production"
            and self.kafka_bootstrap
            and self.kafka_security_protocol != "SASL_SSL"
        ):
            raise ValueError(
                "production reaches Kafka over TLS with a password: set "
                "HOMEWARD_KAFKA_SECURITY_PROTOCOL=SASL_SSL"
            )
        return self

    @property
    def signs_in_locally(self) -> bool:
        """True when tokens come from the local signer (`homeward token`), not a provider."""
        return self.environment == "local" and self.auth_issuer is None

    def service_url(self, service: str) -> str:
        """Where a service is reached over HTTP: its published schemas, at ``/schemas/...``
        under it, are what every message's ``dataschema`` names."""
        configured = {
            "intake": self.intake_url,
            "referral": self.referral_url,
            "followup": self.followup_url,
        }[service]
        return configured or f"http://{self.host}:{self.service_port(service)}"

    def service_port(self, service: str) -> int:
        return {
            "intake": self.intake_port,
            "referral": self.referral_port,
            "followup": self.followup_port,
        }[service]
