"""What every asset module shares: table metadata from the schema contract, the step
retry policy, and the API guard that fails a refused request without retries."""

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

from dagster import Backoff, BetaWarning, Failure, Jitter, RetryPolicy, TableColumn, TableSchema

from zakaz_pipeline.defs.resources import QticketsResource
from zakaz_pipeline.qtickets.client import QticketsAuthError, QticketsClient, QticketsRequestError
from zakaz_pipeline.qtickets.fields import UpstreamDataError
from zakaz_pipeline.warehouse.contract import column_descriptions, schema_contract

DAILY = {"partition_expr": "sales_date"}
# Daily partitions, a table partitioned by month: each write replaces the whole months of its days.
DAILY_IN_MONTHLY_TABLE = {"partition_expr": "sales_date", "table_partition": "month"}
ROW_COUNT = "dagster/row_count"
# BackfillPolicy.single_run() is what makes a backfill one run (one API scan); Dagster
# marks the parameter beta, and every process loading the code would warn about it.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy` of function `asset`", category=BetaWarning)


def step_retry(delay: float) -> RetryPolicy:
    """A step that failed on something retrying may heal (the API's retries exhausted, the
    warehouse restarting): it runs again after ``delay`` s, then ×2, ×4 (full jitter)."""
    return RetryPolicy(max_retries=3, delay=delay, backoff=Backoff.EXPONENTIAL, jitter=Jitter.FULL)


def table(name: str, **metadata: Any) -> dict[str, Any]:
    """Definition metadata of the asset stored as ``name``: how the IO manager writes it
    (``metadata``), and its columns from the schema contract with what each means (the
    COMMENTs of the migrations and view files), which the catalog shows."""
    described = column_descriptions()[name]
    columns = [
        TableColumn(column, kind, description=described.get(column) or None)
        for column, kind in schema_contract()[name].items()
    ]
    return {**metadata, "dagster/column_schema": TableSchema(columns=columns)}


@contextlib.contextmanager
def qtickets_api(qtickets: QticketsResource) -> Iterator[QticketsClient]:
    """A refused token or request, or an answer holding bad data (``UpstreamDataError``,
    read where it is flattened inside this block), will not heal on retry: fail the step
    at once, without retries."""
    try:
        with qtickets.get_client() as client:
            yield client
    except (QticketsAuthError, QticketsRequestError, UpstreamDataError) as exc:
        raise Failure(str(exc), allow_retries=False) from None
