"""DataLens-style queries against a synced embedded warehouse.

chDB opens one data path per process, so the harness times the queries of the largest
warehouse in its own process (after the sync subprocess has exited) and asks for the row
counts of the others through ``python -m benchmarks.views counts --path DIR``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

import orjson

from zakaz_pipeline.warehouse.connection import open_client, parse_target
from zakaz_pipeline.warehouse.datalens import DATALENS_SETTINGS  # the timings are taken under DataLens's session

DATABASE = "zakaz"
# (name, SQL): what a DataLens dashboard on these views asks, filtered by org and dates.
QUERIES = (
    (
        "dashboard: 90 days by day × event",
        (
            "SELECT sales_date, event_name, city, orders, tickets_sold, revenue "
            "FROM v_qtickets_sales_dashboard WHERE org = %(org)s AND sales_date BETWEEN %(from90)s AND %(today)s "
            "ORDER BY sales_date, event_id"
        ),
    ),
    (
        "dashboard: monthly revenue, all time",
        (
            "SELECT toStartOfMonth(sales_date) AS month, sum(orders), sum(tickets_sold), sum(gross_revenue), "
            "sum(refunded_amount), sum(revenue) FROM v_qtickets_sales_dashboard WHERE org = %(org)s "
            "GROUP BY month ORDER BY month"
        ),
    ),
    (
        "dashboard: revenue by city, 365 days",
        (
            "SELECT city, sum(tickets_sold), sum(revenue) FROM v_qtickets_sales_dashboard "
            "WHERE org = %(org)s AND sales_date BETWEEN %(from365)s AND %(today)s GROUP BY city ORDER BY 3 DESC"
        ),
    ),
    ("v_sales_14d", "SELECT * FROM v_sales_14d WHERE org = %(org)s ORDER BY sales_date, event_id"),
    ("v_sales_latest", "SELECT * FROM v_sales_latest WHERE org = %(org)s ORDER BY revenue_total DESC"),
    ("v_qtickets_freshness", "SELECT * FROM v_qtickets_freshness WHERE org = %(org)s"),
    (
        "v_inventory_history: one show's snapshots",
        (
            "SELECT snapshot_ts, tickets_left, sold_since_previous FROM v_inventory_history "
            "WHERE org = %(org)s AND show_id = (SELECT any(show_id) FROM v_show_sell_through WHERE org = %(org)s) "
            "ORDER BY snapshot_ts"
        ),
    ),
    ("v_show_sell_through", "SELECT * FROM v_show_sell_through WHERE org = %(org)s ORDER BY pct_sold DESC"),
)
COUNTS = {
    "stg_qtickets_api_orders_raw": "SELECT count() FROM stg_qtickets_api_orders_raw WHERE org = %(org)s",
    "fact_qtickets_sales_daily": "SELECT count() FROM fact_qtickets_sales_daily WHERE org = %(org)s",
    "sales_days": "SELECT uniqExact(sales_date) FROM fact_qtickets_sales_daily WHERE org = %(org)s",
    "dim_events": "SELECT count() FROM dim_events WHERE org = %(org)s",
    "dim_shows": "SELECT count() FROM dim_shows WHERE org = %(org)s",
}


def _parameters(org: str) -> dict[str, object]:
    today = dt.date.today()
    return {
        "org": org,
        "today": today,
        "from90": today - dt.timedelta(days=90),
        "from365": today - dt.timedelta(days=365),
    }


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def bench(path: Path, org: str, repeats: int, warmup: int = 2) -> list[dict[str, object]]:
    """p50 / p95 / max milliseconds of each query over ``repeats`` timed executions."""
    parameters = _parameters(org)
    results = []
    with open_client(parse_target(f"chdb://{path}", DATABASE), create_database=False) as client:
        for name, sql in QUERIES:
            for _ in range(warmup):
                client.query(sql, parameters=parameters, settings=DATALENS_SETTINGS)
            timings, rows = [], 0
            for _ in range(repeats):
                began = time.perf_counter()
                rows = len(client.query(sql, parameters=parameters, settings=DATALENS_SETTINGS).result_rows)
                timings.append((time.perf_counter() - began) * 1000)
            results.append(
                {
                    "query": name,
                    "rows": rows,
                    "p50_ms": statistics.median(timings),
                    "p95_ms": percentile(timings, 0.95),
                    "max_ms": max(timings),
                }
            )
    return results


def counts(path: Path, org: str) -> dict[str, int]:
    with open_client(parse_target(f"chdb://{path}", DATABASE), create_database=False) as client:
        return {name: int(client.query(sql, parameters={"org": org}).result_rows[0][0]) for name, sql in COUNTS.items()}


PARTS_SQL = (
    "SELECT table, count(), sum(rows) FROM system.parts WHERE database = %(db)s AND active "
    "GROUP BY table ORDER BY count() DESC"
)


def parts(path: Path) -> list[tuple[str, int, int]]:
    """Active parts and rows per table: what a query over the whole history has to open."""
    with open_client(parse_target(f"chdb://{path}", DATABASE), create_database=False) as client:
        rows = client.query(PARTS_SQL, parameters={"db": DATABASE}).result_rows
    return [(str(table), int(count), int(total)) for table, count, total in rows]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=("counts", "bench"))
    parser.add_argument("--path", type=Path, required=True, help="the embedded warehouse directory")
    parser.add_argument("--org", default="bench")
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args(argv)
    result = counts(args.path, args.org) if args.mode == "counts" else bench(args.path, args.org, args.repeats)
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
