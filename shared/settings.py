"""The platform's settings, read once from the environment (prefix ``HOMEWARD_``).

Persistence is not configured here: the event stores follow the eventsourcing library's own
variables (``PERSISTENCE_MODULE``, ``SQLITE_DBNAME``, ``POSTGRES_*``, each optionally prefixed
with the service's name, e.g. ``INTAKE_POSTGRES_DBNAME``); see :mod:`shared.persistence`.
"""

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[1]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOMEWARD_", extra="ignore")

    kafka_bootstrap: str | None = Field(
        default=None,
        description="host:port of Kafka brokers; unset means `homeward up` starts a local one.",
    )
    data_dir: Path = Field(default=Path("var"), description="SQLite files, broker data, logs.")
    host: str = "127.0.0.1"
    intake_port: int = 8001
    referral_port: int = 8002
    followup_port: int = 8003
    local_broker_port: int = 9092
    relay_poll_seconds: float = Field(default=0.2, gt=0)
    relay_batch_size: int = Field(default=200, gt=0)
    kafka_timeout_seconds: float = Field(
        default=10.0, gt=0, description="How long a publish may wait for the broker's ack."
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

    def service_port(self, service: str) -> int:
        return {
            "intake": self.intake_port,
            "referral": self.referral_port,
            "followup": self.followup_port,
        }[service]
