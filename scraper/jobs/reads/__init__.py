"""Reads that stay flat at millions of jobs: each one an index range, a seek or a bounded count.

- Activity over a time window is read from the stats rollup (`scraper.rollup`).
- `keyset`: keyset pages with an opaque, validated cursor; `counting`: exact-then-estimated totals.
"""
