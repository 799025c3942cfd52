"""Prometheus metrics at scrape time: the database collector (`collector`), the registry that
`/metrics` and the worker's exporter serve (`exporter`), and a TTL cache (`cache`).

The process counters the jobs and the web app bump live below the jobs, in `scraper.counters`.
"""
