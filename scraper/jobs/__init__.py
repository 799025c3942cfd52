"""Jobs: the database store, the durable fallback, reconciliation, and the service over both."""

from scraper.jobs.fallback import FallbackStore
from scraper.jobs.reader import SORTS, JobFilter, JobReader
from scraper.jobs.reconcile import Reconciler, ReconcileResult, reconcile
from scraper.jobs.record import JobRecord
from scraper.jobs.service import JobPage, JobService, NewJob
from scraper.jobs.store import JobStore, RescueResult

__all__ = [
    "SORTS",
    "FallbackStore",
    "JobFilter",
    "JobPage",
    "JobReader",
    "JobRecord",
    "JobService",
    "JobStore",
    "NewJob",
    "ReconcileResult",
    "Reconciler",
    "RescueResult",
    "reconcile",
]
