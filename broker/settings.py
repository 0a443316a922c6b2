"""Settings from the environment (HUB_*); embedded defaults need no server at all."""

from __future__ import annotations

import hmac
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MIN_SECRET = 32
"""Shortest national key, key pepper accepted at start-up (M8)."""
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


class Settings(BaseSettings):
    """Everything the hub reads from its environment; secrets are SecretStr and never print."""

    model_config = SettingsConfigDict(env_prefix="HUB_", extra="ignore")

    database_url: str = Field(
        default=f"sqlite:///{PROJECT_ROOT / 'var' / 'hub.db'}",
        description="SQLAlchemy URL; SQLite (WAL) by default, postgresql+psycopg://… in production.",
    )
    broker_url: str = Field(default="memory://localhost/", description="Celery broker; memory:// runs in-process.")
    queue_prefix: str = Field(default="hub", description="Prefix of every queue name (one hub per prefix).")
    config_dir: Path = Field(default=PROJECT_ROOT / "config", description="Where agencies.yaml lives.")

    national_api_key: SecretStr | None = Field(default=None, description="Key the national system sends.")
    national_api_key_previous: SecretStr | None = Field(
        default=None,
        description="The national key being retired, still accepted while the national system switches to the new one.",
    )
    webhook_url: str | None = Field(default=None, description="Where the national system hears of events.")
    webhook_secret: SecretStr | None = Field(default=None, description="HMAC-SHA256 key for webhooks.")
    reply_secret: SecretStr | None = Field(
        default=None, description="HMAC key of reply tokens (required when an agency's answers are read from an inbox)."
    )
    attachment_hosts: str = Field(
        default="",
        description="Attachment stores the hub may fetch files from: https origins, comma-separated "
        "(read by the adapters as HUB_ATTACHMENT_HOSTS).",
    )
    message_rate: float = Field(default=2.0, gt=0, description="Agency messages per second per agency (sustained).")
    message_burst: int = Field(default=120, ge=1, description="Agency messages an agency may send at once.")
    key_pepper: SecretStr | None = Field(
        default=None, description="HMAC key under which agencies' API keys are stored (read at call time)."
    )
    key_failures_per_minute: float = Field(
        default=10.0, gt=0, description="Wrong agency keys allowed per minute, per client address and per key."
    )
    key_failures_burst: int = Field(default=20, ge=1, description="Wrong agency keys allowed at once before 429.")
    messages_per_handoff: int = Field(default=200, ge=1, description="Most messages one handoff may record.")

    lease_seconds: float = Field(default=120.0, gt=0, description="Re-publish work not done within this.")
    max_attempts: int = Field(default=8, ge=1, description="Delivery attempts before a handoff fails.")
    backoff_base: float = Field(default=2.0, gt=0, description="First retry delay, seconds.")
    backoff_cap: float = Field(default=600.0, gt=0, description="Longest retry delay, seconds.")
    relay_interval: float = Field(default=0.2, gt=0, description="How often the relay looks for due work.")
    relay_linger: float = Field(
        default=0.05,
        ge=0,
        description="While cases trickle in, a relay pass waits this long after the last one, so it carries "
        "several (seconds; a full pass goes on at once).",
    )
    relay_agency_linger: float = Field(
        default=0.25,
        ge=0,
        description="As relay_linger, after a pass that published connected agencies' deliveries: each agency "
        "gets one broker message a pass, so a longer wait fills it (seconds).",
    )
    relay_batch: int = Field(default=500, ge=1, description="Outbox rows claimed per relay pass.")
    task_batch: int = Field(default=20, ge=1, description="Handoffs carried by one broker message.")
    worker_concurrency: int = Field(default=4, ge=1, description="Worker threads or processes.")
    db_pool_size: int = Field(
        default=5,
        ge=1,
        description="Database connections each process keeps open; an API process runs at most this many "
        "requests' work at once, so a burst waits for a connection instead of opening (and closing) new ones.",
    )
    agency_max_in_flight: int = Field(
        default=2,
        ge=1,
        description="Broker messages in flight per connected agency, each delivering up to task_batch handoffs one "
        "after another: its calls under way at once (agencies.yaml `max_in_flight` overrides).",
    )
    circuit_failures: int = Field(default=5, ge=1, description="Consecutive retriable failures that open a circuit.")
    circuit_cooldown: float = Field(default=30.0, gt=0, description="Seconds an open circuit waits before a probe.")
    circuit_cooldown_cap: float = Field(default=600.0, gt=0, description="Longest cool-down after failed probes.")
    delivery_timeout: float = Field(
        default=40.0, gt=0, description="Longest wait for one adapter call: a net above the adapters' own timeouts."
    )
    max_body_bytes: int = Field(default=256 * 1024, ge=1024, description="Largest request body accepted.")
    metrics_port: int | None = Field(
        default=None, ge=1, le=65535, description="Worker or scheduler: serve /healthz, /readyz and /metrics here."
    )
    metrics_token: SecretStr | None = Field(
        default=None, description="When set, /metrics asks for `Authorization: Bearer <token>`."
    )
    retention_days: int | None = Field(
        default=None, ge=1, description="Remove citizens' personal data this many days after a case closed."
    )
    retention_free_text: bool = Field(
        default=False, description="Remove the subject, description and messages' texts too, not only identifiers."
    )
    recurring: bool = Field(
        default=True,
        description="Group new cases into recurring complaints (the scheduler's `recurring.attach`); false: off.",
    )
    console_secure_cookies: bool = Field(
        default=True, description="Console session cookies only over HTTPS (the demo turns it off on localhost)."
    )
    docs: bool = Field(
        default=True, description="Serve /docs, /redoc and /openapi.json (set HUB_DOCS=false in production)."
    )
    log_format: str = Field(default="auto", pattern="^(auto|json|console)$")
    log_level: str = Field(default="INFO")

    def lease_problem(self) -> str | None:
        """Why the lease is too short for the deliveries these settings allow, if it is.

        A worker renews its claim before each delivery of a batch; one delivery may wait
        `delivery_timeout` for a free slot and as long again for the agency. A shorter lease would
        let another worker start the same delivery while the first is still waiting for it.
        """
        longest = 2 * self.delivery_timeout
        if self.lease_seconds <= longest:
            return (
                f"HUB_LEASE_SECONDS ({self.lease_seconds:g}) must be longer than one delivery may take: "
                f"2 × HUB_DELIVERY_TIMEOUT = {longest:g} s"
            )
        return None

    def is_national_key(self, key: str) -> bool:
        """Whether `key` is the national system's key, or the previous one during a rotation (M8)."""
        accepted = [s.get_secret_value().encode() for s in (self.national_api_key, self.national_api_key_previous) if s]
        given = key.encode()
        return any([hmac.compare_digest(given, expected) for expected in accepted])  # every key compared, always

    def startup_problems(self) -> list[str]:
        """What makes these settings unsafe to run with, each naming its variable (M8, L10)."""
        problems = []
        key = self.national_api_key.get_secret_value() if self.national_api_key is not None else None
        if key is not None and len(key) < MIN_SECRET:
            problems.append(
                f"HUB_NATIONAL_API_KEY must be at least {MIN_SECRET} random characters (it has {len(key)}): "
                "make one with `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
        previous = self.national_api_key_previous.get_secret_value() if self.national_api_key_previous else None
        if previous is not None and len(previous) < MIN_SECRET:
            problems.append(f"HUB_NATIONAL_API_KEY_PREVIOUS must be at least {MIN_SECRET} random characters too")
        pepper = self.key_pepper.get_secret_value() if self.key_pepper is not None else None
        if pepper is not None and len(pepper) < MIN_SECRET:
            problems.append(f"HUB_KEY_PEPPER must be at least {MIN_SECRET} random characters (it has {len(pepper)})")
        if self.webhook_url:
            if self.webhook_secret is None or not self.webhook_secret.get_secret_value():
                problems.append(
                    "HUB_WEBHOOK_URL is set but HUB_WEBHOOK_SECRET is not: no event could be signed or sent"
                )
            parts = urlsplit(self.webhook_url)
            if parts.scheme not in ("https", "http") or not parts.hostname:
                problems.append(f"HUB_WEBHOOK_URL must be an https:// URL, not '{self.webhook_url}'")
            elif parts.scheme == "http" and parts.hostname not in LOOPBACK:
                problems.append("HUB_WEBHOOK_URL must be https:// (plain http only to a loopback address)")
        return problems

    @property
    def is_sqlite(self) -> bool:
        """True when the store is the embedded SQLite file."""
        return self.database_url.startswith("sqlite")
