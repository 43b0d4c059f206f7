"""A pytest plugin printing the fault matrix's summary at the end of the run.

``tests/conftest.py`` loads it; the fault-matrix tests append one row per
flow to :data:`RESULTS`; the summary shows in the terminal whether or not
``-s`` is given.
"""

from __future__ import annotations

RESULTS: list[dict] = []  # {"flow", "calls", "kinds", "cases", "passed", "failed"}


def pytest_terminal_summary(terminalreporter) -> None:
    if not RESULTS:
        return
    terminalreporter.section("fault matrix")
    totals = dict.fromkeys(("cases", "passed", "failed"), 0)
    for row in RESULTS:
        terminalreporter.write_line(
            f"{row['flow']:<22} {row['calls']:>3} calls x {row['kinds']} faults: "
            f"{row['cases']:>4} cases, {row['passed']:>4} passed, "
            f"{row['failed']:>3} failed "
            f"(raised: {row['raised']})"
        )
        if terminalreporter.config.option.verbose > 0:
            for line in row["details"]:
                terminalreporter.write_line(f"    {line}")
        for key in totals:
            totals[key] += row[key]
    terminalreporter.write_line(
        f"{'total':<22} {totals['cases']:>4} cases, {totals['passed']} passed, "
        f"{totals['failed']} failed"
    )
