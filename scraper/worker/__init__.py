"""The worker: the claim / lease / heartbeat / rescue loop (`loop`), a job's run as one object
(`run`, `report`), its download pool (`pool`), and `scraper search` without a job (`terminal`).
"""

from scraper.worker.loop import Worker

__all__ = ["Worker"]
