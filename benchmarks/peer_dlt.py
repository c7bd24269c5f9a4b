"""The peer pipeline: Qtickets → dlt ``rest_api`` source → DuckDB → daily sales SQL.

This is what a seller would assemble by hand from off-the-shelf tools instead of zakaz:
dlt's declarative REST API source on ``/events`` and ``/orders`` (bearer token, ``data``
selector, dlt's stock page-number paginator with ``page`` / ``perPage`` / ``orderBy`` as
query parameters, stopping at the first empty page because ``paging.total`` counts items,
not pages), loaded into a DuckDB file, where each order's ``baskets`` become dlt's child
table ``orders__baskets``. The daily sales are then computed in DuckDB by the definition
of zakaz's ``SALES_DAILY_SQL`` (docs/ARCHITECTURE.md, "Definitions"), in Moscow time. The only tuning is
what a careful dlt user adds after the first wrong answer (type hints on the columns the
SQL reads) or from dlt's docs (parquet as the loader file format, ``--file-format``).

Run it in its own virtual environment (``benchmarks/requirements-dlt.txt``)::

    python benchmarks/peer_dlt.py --base-url URL --token TOKEN --workdir DIR [--per-page 500]

It prints one JSON line on stdout: seconds (wall time of extract + normalize + load + SQL,
after imports), orders (rows of ``orders``), tickets (rows of ``orders__baskets``) and
daily_rows (rows of the daily result); ``--totals`` adds the summed revenue and
tickets_sold for comparison with the simulator's ground truth. Logs go to stderr, and
dlt's state stays under DIR.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dlt.extract import DltSource

# dlt reads its settings from the environment at import: keep its state under --workdir,
# its logs at WARNING and its telemetry off.
_DLT_ENV = {"RUNTIME__LOG_LEVEL": "WARNING", "RUNTIME__DLTHUB_TELEMETRY": "false"}

DAILY_SALES_SQL = """
CREATE OR REPLACE TABLE sales_daily AS
SELECT
    CAST(timezone('Europe/Moscow', o.payed_at) AS DATE)                 AS sales_date,
    o.event_id,
    count(DISTINCT o.id)                                                AS orders,
    coalesce(sum(b.quantity) FILTER (WHERE b.refunded_at IS NULL), 0)   AS tickets_sold,
    coalesce(sum(b.price), 0)                                           AS gross_revenue,
    coalesce(sum(b.refunded_amount), 0)                                 AS refunded_amount,
    coalesce(sum(b.price), 0) - coalesce(sum(b.refunded_amount), 0)     AS revenue
FROM orders AS o
JOIN orders__baskets AS b ON b._dlt_parent_id = o._dlt_id
WHERE o.payed AND o.payed_at IS NOT NULL AND o.deleted_at IS NULL AND b.deleted_at IS NULL
GROUP BY ALL
"""


def build_source(base_url: str, token: str, per_page: int) -> DltSource:
    from dlt.extract import make_nested_hints
    from dlt.sources.rest_api import rest_api_source

    source = rest_api_source(
        {
            "client": {
                "base_url": base_url.rstrip("/") + "/",
                "auth": {"type": "bearer", "token": token},
                "headers": {"Accept": "application/json"},
                "paginator": {
                    "type": "page_number",
                    "base_page": 1,
                    "page_param": "page",
                    "total_path": None,  # paging.total counts items, not pages
                    "stop_after_empty_page": True,
                },
            },
            "resource_defaults": {
                "primary_key": "id",
                "write_disposition": "replace",
                "endpoint": {
                    "data_selector": "data",
                    # rest_api formats params: literal braces are doubled.
                    "params": {"perPage": per_page, "orderBy": '{{"id": "asc"}}'},
                },
            },
            "resources": ["events", "orders"],
        },
        name="qtickets",
    )

    # Type hints for the columns the SQL reads. Amounts come as ints or floats: unhinted,
    # dlt types a column BIGINT from its first value and puts fractional values into a
    # variant column (price__v_double) that sum(price) silently misses. And a column that
    # is null on every row (no refunds yet) is not created at all, so the SQL would fail.
    def typed(data_type: str, *names: str) -> list[dict]:
        extra = {"precision": 18, "scale": 2} if data_type == "decimal" else {}
        return [{"name": name, "data_type": data_type, "nullable": True, **extra} for name in names]

    source.resources["orders"].apply_hints(
        columns=typed("timestamp", "payed_at", "deleted_at"),
        nested_hints={
            "baskets": make_nested_hints(
                columns=typed("decimal", "price", "refunded_amount") + typed("timestamp", "deleted_at", "refunded_at")
            )
        },
    )
    return source


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True, help="e.g. http://127.0.0.1:8799/api/rest/v1")
    parser.add_argument("--token", required=True)
    parser.add_argument("--workdir", required=True, type=Path)
    parser.add_argument("--per-page", type=int, default=500)
    parser.add_argument(
        "--file-format",
        choices=("insert_values", "parquet", "jsonl"),
        default="parquet",
        help="dlt's loader file format; insert_values is dlt's own default for duckdb, but 3-4x slower here",
    )
    parser.add_argument("--totals", action="store_true", help="add summed revenue and tickets_sold")
    args = parser.parse_args()

    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    for name, value in {**_DLT_ENV, "DLT_DATA_DIR": str(workdir / "dlt_data")}.items():
        os.environ.setdefault(name, value)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    import dlt

    started = time.perf_counter()
    pipeline = dlt.pipeline(
        pipeline_name="qtickets_peer",
        pipelines_dir=str(workdir / "pipelines"),
        destination=dlt.destinations.duckdb(str(workdir / "peer.duckdb")),
        dataset_name="qtickets",
    )
    load_info = pipeline.run(
        build_source(args.base_url, args.token, args.per_page), loader_file_format=args.file_format
    )
    print(load_info, file=sys.stderr)
    with pipeline.sql_client() as client:
        client.execute_sql(DAILY_SALES_SQL)
        ((orders,),) = client.execute_sql("SELECT count(*) FROM orders")
        ((tickets,),) = client.execute_sql("SELECT count(*) FROM orders__baskets")
        ((daily_rows, revenue, tickets_sold),) = client.execute_sql(
            "SELECT count(*), sum(revenue), sum(tickets_sold) FROM sales_daily"
        )
    result = {
        "seconds": round(time.perf_counter() - started, 3),
        "orders": orders,
        "tickets": tickets,
        "daily_rows": daily_rows,
    }
    if args.totals:
        result.update(revenue=str(revenue), tickets_sold=int(tickets_sold or 0))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
