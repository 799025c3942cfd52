"""Settings from the environment, one frozen dataclass."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from scraper.errors import ConfigError

DEFAULT_DATABASE_URL = "sqlite:///data/scraper.db"
AUTO_HEAL_MODES = ("safe", "off")
SOURCE_URL_VAR = re.compile(r"SCRAPER_SOURCE_([A-Z0-9_]+)_URL")


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _number(
    env: Mapping[str, str], name: str, default: float, kind: type = int, zero_ok: bool = False
) -> Any:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a {kind.__name__} number, got {raw!r}") from None
    if value < 0 or (value == 0 and not zero_ok):
        limit = "zero or more" if zero_ok else "greater than zero"
        raise ConfigError(f"{name} must be {limit}, got {raw!r}")
    return value


def _host_list(raw: str | None) -> frozenset[str]:
    return frozenset(h.strip().lower() for h in (raw or "").split(",") if h.strip())


def _source_urls(env: Mapping[str, str]) -> dict[str, str]:
    """`SCRAPER_SOURCE_OPENVERSE_URL=https://…` -> {"openverse": "https://…"}."""
    urls = {}
    for key, value in env.items():
        match = SOURCE_URL_VAR.fullmatch(key)
        if match and value.strip():
            urls[match.group(1).lower()] = value.strip().rstrip("/")
    return urls


@dataclass(frozen=True)
class Settings:
    """Everything the service reads from its environment; build with `Settings.from_env()`."""

    database_url: str = DEFAULT_DATABASE_URL
    data_dir: Path = Path("data")
    secret_key: str = "dev-insecure-secret-change-me"
    auto_heal: str = "safe"
    allow_private_networks: bool = False
    metrics_token: str | None = None
    log_format: str = "text"
    max_content_limit: int = 500
    lease_seconds: int = 60
    max_attempts: int = 3
    reconcile_interval: float = 30.0
    poll_interval: float = 1.0
    download_max_bytes: int = 50 * 1024 * 1024
    download_timeout: float = 30.0
    download_deadline: float = 120.0
    # Politeness toward remote sources: who we are, and how hard we may hit one host.
    contact: str | None = None
    host_concurrency: int = 2
    host_delay: float = 0.5
    # Downloads in flight at once inside one job (its pool); hosts stay bound by the above.
    job_concurrency: int = 8
    trusted_hosts: frozenset[str] = frozenset()
    source_urls: Mapping[str, str] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read `SCRAPER_*` variables; keyword overrides win (the CLI's `--database-url`)."""
        env = os.environ if env is None else env
        auto_heal = env.get("SCRAPER_AUTO_HEAL", "safe").strip().lower()
        if auto_heal not in AUTO_HEAL_MODES:
            raise ConfigError(
                f"SCRAPER_AUTO_HEAL must be one of {AUTO_HEAL_MODES}, got {auto_heal!r}"
            )
        settings = cls(
            database_url=env.get("SCRAPER_DATABASE_URL") or DEFAULT_DATABASE_URL,
            data_dir=Path(env.get("SCRAPER_DATA_DIR") or "data"),
            secret_key=env.get("SCRAPER_SECRET_KEY") or cls.secret_key,
            auto_heal=auto_heal,
            allow_private_networks=_flag(env.get("SCRAPER_ALLOW_PRIVATE_NETWORKS")),
            metrics_token=env.get("SCRAPER_METRICS_TOKEN") or None,
            log_format=(env.get("SCRAPER_LOG_FORMAT") or "text").lower(),
            max_content_limit=_number(env, "SCRAPER_MAX_CONTENT", 500),
            lease_seconds=_number(env, "SCRAPER_LEASE_SECONDS", 60),
            max_attempts=_number(env, "SCRAPER_MAX_ATTEMPTS", 3),
            download_max_bytes=_number(env, "SCRAPER_DOWNLOAD_MAX_BYTES", 50 * 1024 * 1024),
            download_timeout=_number(env, "SCRAPER_DOWNLOAD_TIMEOUT", 30.0, float),
            download_deadline=_number(env, "SCRAPER_DOWNLOAD_DEADLINE", 120.0, float),
            poll_interval=_number(env, "SCRAPER_POLL_INTERVAL", 1.0, float),
            reconcile_interval=_number(env, "SCRAPER_RECONCILE_INTERVAL", 30.0, float),
            contact=(env.get("SCRAPER_CONTACT") or "").strip() or None,
            host_concurrency=_number(env, "SCRAPER_HOST_CONCURRENCY", 2),
            host_delay=_number(env, "SCRAPER_HOST_DELAY", 0.5, float, zero_ok=True),
            job_concurrency=_number(env, "SCRAPER_JOB_CONCURRENCY", 8),
            trusted_hosts=_host_list(env.get("SCRAPER_TRUSTED_HOSTS")),
            source_urls=_source_urls(env),
        )
        return settings.with_overrides(**overrides)

    def with_overrides(self, **overrides: Any) -> Settings:
        """Return a copy with the non-None overrides applied."""
        values = {k: v for k, v in overrides.items() if v is not None}
        if "data_dir" in values:
            values["data_dir"] = Path(values["data_dir"])
        return replace(self, **values)

    @property
    def user_agent(self) -> str:
        """Descriptive, with a contact: Wikimedia and others refuse generic User-Agents."""
        contact = self.contact or "set SCRAPER_CONTACT"
        return f"scraper/0.1 (media scraper service; {contact})"

    @property
    def downloads_dir(self) -> Path:
        return self.data_dir / "downloads"

    @property
    def fallback_journal(self) -> Path:
        return self.data_dir / "fallback-jobs.jsonl"
