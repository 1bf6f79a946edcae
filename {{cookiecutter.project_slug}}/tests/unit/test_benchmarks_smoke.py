"""Every benchmark still runs end to end (``--quick``, memory backend), so none of them rots.

Figures from a quick run mean nothing, and nothing here asserts a duration.
"""

from __future__ import annotations

import pytest

from benchmarks import http_load, run, startup


def test_the_repository_benchmark_measures_every_operation_on_memory(
    capsys: pytest.CaptureFixture[str],
) -> None:
    [report] = run.main(["--backends", "memory", "--quick"])

    assert report.skipped is None
    assert [row.operation for row in report.rows] == [
        "get by id",
        "create",
        "filtered page (20)",
        "populated view page (50)",
        "add_many (100)",
        "unique lookup (get_by)",
        "unique lookup (find_one)",
        "unique lookup (find)",
        "count",
        "count (unique field)",
        "count (indexed field)",
        "id-ordered page (20)",
        "add (entity built before)",
    ]
    assert all(row.repository_ms > 0 and row.raw_ms > 0 for row in report.rows)
    assert "memory    populated view page (50)" in capsys.readouterr().out


def test_the_http_benchmark_loads_both_servers_on_both_endpoints(
    capsys: pytest.CaptureFixture[str],
) -> None:
    results = http_load.main(["--quick"])

    assert [(r.endpoint, r.server) for r in results] == [
        ("GET /items?limit=20", "service"),
        ("GET /items?limit=20", "bare"),
        ("GET /items/{id}", "service"),
        ("GET /items/{id}", "bare"),
    ]
    assert all(r.requests > 0 and r.p99_ms >= r.p50_ms > 0 for r in results)
    assert "service/bare req/s" in capsys.readouterr().out


def test_the_startup_benchmark_reads_import_times_and_reaches_ready() -> None:
    report = startup.main(["--quick"])

    assert report.imports.total_ms > 0
    assert any(name == "fastapi" for name, _ in report.imports.packages)
    assert report.create_app_ms > 0
    assert len(report.ready_ms) == 1


def test_importtime_lines_are_summed_per_top_level_package() -> None:
    stderr = "\n".join(
        [
            "import time: self [us] | cumulative | imported package",
            "import time:       100 |        100 |     json.decoder",
            "import time:       300 |        400 |   json",
            "import time:      2000 |       2500 | app.main",
        ]
    )
    report = startup.parse_importtime(stderr, "app.main", top=5)

    assert report.total_ms == 2.5
    assert report.packages == [("app", 2.0), ("json", 0.4)]
    assert report.modules[0] == ("app.main", 2.0, 2.5)
