"""The classification of a driver's error: MariaDB's statement-time cut in each form it takes."""

from __future__ import annotations

import pymysql
import pytest

from healthchecks.refusal import RefusalKind, classify

CUT = "Query execution was interrupted (max_statement_time exceeded)"


@pytest.mark.parametrize(
    ("errno", "message", "kind"),
    [
        (1969, CUT, RefusalKind.TIMEOUT),
        # the cut reported by the step it stopped (filesort's ER_FILSORT_ABORT wraps the text)
        (1028, f"Sort aborted: {CUT}", RefusalKind.TIMEOUT),
        # KILL QUERY by someone: not a limit of the server's
        (1317, "Query execution was interrupted", RefusalKind.OTHER),
    ],
)
def test_a_statement_time_cut_is_a_timeout_whatever_errno_reports_it(
    errno: int, message: str, kind: RefusalKind
) -> None:
    refusal = classify(pymysql.err.OperationalError(errno, message))
    assert refusal.kind is kind and refusal.errno == errno
