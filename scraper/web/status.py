"""The dashboard's banner and health panel: the health checks' results, schema cached briefly."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from sqlalchemy import Engine

from healthchecks.monitor import HealthMonitor, monitor_for
from scraper.errors import one_line
from scraper.metrics.cache import TTLCache
from scraper.migrations.manage import check_schema as compare_schema
from scraper.runtime import Runtime

# The health panel: the /readyz checks, but the schema comes from the cached comparison.
PANEL_CHECKS = (
    "database:connection",
    "database:writes",
    "worker:heartbeat",
    "queue:oldest_pending_age",
    "storage:writable",
    "fallback:jobs",
)


@dataclass(frozen=True)
class SchemaStatus:
    """Whether the live schema matches the models; `in_sync` is None when it was not checked."""

    in_sync: bool | None
    differences: int = 0
    error: str | None = None


@dataclass(frozen=True)
class HealthItem:
    """One line of the health panel: a check's name, status and sentence."""

    name: str  # component:measurement, as /readyz names it
    status: str  # pass | warn | fail
    output: str
    fix: str | None = None

    @property
    def component(self) -> str:
        return self.name.split(":", 1)[0]


@dataclass(frozen=True)
class SystemStatus:
    """What the banner and the health panel show."""

    fallback_jobs: int
    schema: SchemaStatus
    health: list[HealthItem] = field(default_factory=list)
    quarantined_jobs: int = 0
    self_healing: bool = False  # SCRAPER_AUTO_HEAL=safe: the service repairs refused writes

    @property
    def heals_drift(self) -> bool:
        """The running service will repair the drift itself: writes are refused for a reason
        its additive repair fixes (`scraper.app.selfheal`), and self-healing is on."""
        return self.self_healing and any(drift_fix(item) for item in self.health)

    @property
    def banner(self) -> list[str]:
        """One sentence per problem a person must act on; empty when all is well."""
        lines = []
        n = self.fallback_jobs
        if n:
            lines.append(
                f"{plural(n, 'job is', 'jobs are')} held in the fallback store because the "
                f"database refused {'it' if n == 1 else 'them'}; nothing runs until reconciled. "
                "Run `ops doctor`."
            )
        q = self.quarantined_jobs
        if q:
            lines.append(
                f"{plural(q, 'job is', 'jobs are')} quarantined: the database refused "
                f"{'it' if q == 1 else 'them'} the same way again and again. See `ops jobs "
                "--storage fallback`; `ops reconcile` tries again once the cause is fixed."
            )
        if self.schema.in_sync is False:
            # one fix named for the drift, here; none when the service repairs it itself
            remedy = (
                "The service is repairing it by itself (SCRAPER_AUTO_HEAL=safe)."
                if self.heals_drift
                else "Run `ops doctor`."
            )
            lines.append(
                "The database schema is out of sync with the models "
                f"({plural(self.schema.differences, 'difference')}). {remedy}"
            )
        return lines

    @property
    def panel(self) -> list[HealthItem]:
        """The health lines; a drift's fix is named once, in the banner, not again per line."""
        if self.schema.in_sync is not False:
            return self.health
        return [
            replace(item, fix=None) if drift_fix(item) or item.name == "schema:in_sync" else item
            for item in self.health
        ]


def drift_fix(item: HealthItem) -> bool:
    """The line fails for schema drift the additive repair fixes (its fix heals by migrating)."""
    return item.status != "pass" and getattr(item.fix, "heal", None) == "migrate"


def plural(count: int, one: str, many: str | None = None) -> str:
    """`plural(1, "job")` -> "1 job"; `plural(2, "job")` -> "2 jobs"."""
    return f"{count} {one if count == 1 else (many or one + 's')}"


def check_schema(engine: Engine) -> SchemaStatus:
    """Compare the live schema with the models (`scraper.migrations.manage.check_schema`)."""
    try:
        report = compare_schema(engine)
    except Exception as exc:  # a checker failure must not take the dashboard down
        return SchemaStatus(None, 0, one_line(exc, kind=True))
    return SchemaStatus(bool(report.in_sync), len(report.differences))


def _schema_item(schema: SchemaStatus) -> HealthItem:
    if schema.in_sync is None:
        return HealthItem("schema:in_sync", "warn", f"Not checked: {schema.error}.")
    if schema.in_sync:
        return HealthItem("schema:in_sync", "pass", "The schema matches the models.")
    found = plural(schema.differences, "difference")
    return HealthItem("schema:in_sync", "fail", f"{found} from the models.", "ops doctor")


def _panel_checks(runtime: Runtime) -> list[HealthItem]:
    monitor = monitor_for(runtime)
    results = monitor.results(PANEL_CHECKS)
    items = [HealthItem(r.name, r.status.value, r.output, r.fix) for r in results]
    return items + _self_heal_items(monitor)


def _self_heal_items(monitor: HealthMonitor, shown: int = 3) -> list[HealthItem]:
    """What the running service healed by itself (SCRAPER_AUTO_HEAL=safe), newest first."""
    return [
        HealthItem(
            f"self_heal:{event.action}",
            "pass" if event.ok else "warn",
            f"Healed itself at {event.at:%H:%M:%S} UTC: {event.action} ({event.detail}).",
        )
        for event in list(monitor.heals)[-shown:][::-1]
    ]


def schema_cache(runtime: Runtime, ttl: float) -> TTLCache[SchemaStatus]:
    """`check_schema` at most once per `ttl` seconds: reflection is too slow for every poll."""
    return TTLCache(lambda: check_schema(runtime.engine), ttl)


def health_cache(runtime: Runtime, ttl: float) -> TTLCache[list[HealthItem]]:
    """The panel's checks at most once per `ttl` seconds, whoever polls: they are system-wide,
    and most of a dashboard poll's cost (benchmarks/poll_cost.py)."""
    return TTLCache(lambda: _panel_checks(runtime), ttl)


def system_status(
    runtime: Runtime,
    schema: TTLCache[SchemaStatus],
    checks: TTLCache[list[HealthItem]] | None = None,
) -> SystemStatus:
    """Measure everything the banner and the health panel show (schema and checks cached)."""
    held = runtime.fallback.jobs()  # always live: it is cheap and the banner needs it
    quarantined = sum(1 for job in held if job.quarantined)
    schema_status = schema.get()
    health = list(checks.get() if checks is not None else _panel_checks(runtime))
    health.insert(1, _schema_item(schema_status))
    healing = runtime.settings.auto_heal == "safe"
    return SystemStatus(len(held) - quarantined, schema_status, health, quarantined, healing)
