"""Reads that stay flat at millions of jobs: each one an index range, a seek or a bounded count.

- `buckets`: a time column's bucket number computed by the database (for GROUP BY).
- `sources`: per-source totals summed from the jobs' JSON `result` in SQL.
- `keyset`: keyset pages with an opaque, validated cursor; `counting`: exact-then-estimated totals.
"""
