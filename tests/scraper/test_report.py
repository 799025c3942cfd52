"""A job's report as its row keeps it: `to_json` is what `dataclasses.asdict` gave, copied
(the report goes on changing after a write)."""

from __future__ import annotations

from dataclasses import asdict

from scraper.worker.report import JobReport


def test_to_json_is_the_reports_fields_copied() -> None:
    report = JobReport.start(3, ["selftest", "url"], True)
    source = report.sources["selftest"]
    source.found, source.stored, source.bytes = 3, 2, 1234
    source.skip("duplicate_url", "selftest://1.png: seen")
    report.sources["url"].error = "timed out"
    found = report.to_json()

    assert found["sources"] == {name: asdict(r) for name, r in report.sources.items()}
    assert list(found["sources"]["selftest"]) == list(asdict(source))  # same keys, same order
    source.skip("duplicate_url", "selftest://2.png: seen")  # a later change is not in it
    assert found["sources"]["selftest"]["skipped"] == {"duplicate_url": 1}
    assert len(found["sources"]["selftest"]["problems"]) == 1
