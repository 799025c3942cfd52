"""Jobs: the database store, the durable fallback, reconciliation, and the service over both."""

from scraper.jobs.fallback import FallbackStore
from scraper.jobs.reader import JobFilter, JobReader, JobSort
from scraper.jobs.reconcile import Reconciler, ReconcileResult, reconcile
from scraper.jobs.record import JobRecord
from scraper.jobs.service import JobPage, JobService, NewJob
from scraper.jobs.store import JobStore, RescueResult

__all__ = [
    "FallbackStore",
    "JobFilter",
    "JobPage",
    "JobReader",
    "JobSort",
    "JobRecord",
    "JobService",
    "JobStore",
    "NewJob",
    "ReconcileResult",
    "Reconciler",
    "RescueResult",
    "reconcile",
]
