"""``qtickets_webhook_heartbeat``: the webhook receiver's queue, seen from the warehouse.

The queue is a SQLite file (``ZAKAZ_WEBHOOK_QUEUE``) that DataLens cannot read, so this sensor
copies its figures into ``meta_webhooks`` (``warehouse/webhook_monitoring.py``), where
``v_qtickets_freshness`` shows the newest webhook received beside the polled sources. It
writes when a figure changed, and otherwise every ``UNCHANGED_EVERY``, so that on the
embedded warehouse it takes the data path's lock once a minute at most and seldom when
nothing happens. It runs by default where ``QTICKETS_WEBHOOK_SECRET`` is set (a receiver
feeds the queue) and is stopped otherwise.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from dagster import (
    AssetMaterialization,
    DefaultSensorStatus,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from zakaz_pipeline.defs.resources import QualityResource
from zakaz_pipeline.settings import Settings
from zakaz_pipeline.warehouse.resource import ClickHouseResource
from zakaz_pipeline.warehouse.webhook_monitoring import record_webhook_heartbeat
from zakaz_pipeline.webhooks.queue import QueueStats, WebhookQueue

HEARTBEAT_SENSOR = "qtickets_webhook_heartbeat"
INTERVAL_SECONDS = 60
UNCHANGED_EVERY = dt.timedelta(minutes=10)
SIGNATURE_WINDOW = dt.timedelta(hours=1)


def queue_stats(path: Path, now: dt.datetime) -> QueueStats | None:
    """The queue's figures, with the refusals of the hour before ``now``; None before the
    receiver first created the file."""
    if not path.exists():
        return None
    with WebhookQueue(path) as queue:
        return queue.stats(now - SIGNATURE_WINDOW)


def bad_signatures(stats: QueueStats) -> int:
    return int(stats.refusals.get("signature", 0))


def heartbeat_figures(stats: QueueStats) -> str:
    """What a heartbeat says, as the cursor keeps it: a change of any figure writes a row."""
    last = stats.last_received_at.isoformat() if stats.last_received_at else None
    return json.dumps([last, stats.entries, bad_signatures(stats)])


def webhook_heartbeat_sensor(settings: Settings) -> SensorDefinition:
    queue_path = settings.webhook_queue
    status = DefaultSensorStatus.RUNNING if settings.webhooks_configured else DefaultSensorStatus.STOPPED

    @sensor(
        name=HEARTBEAT_SENSOR,
        minimum_interval_seconds=INTERVAL_SECONDS,
        default_status=status,
        description="Copies the webhook queue's newest delivery, size and signature refusals into meta_webhooks "
        "for the DataLens freshness view.",
    )
    def _sensor(
        context: SensorEvaluationContext, warehouse: ClickHouseResource, quality: QualityResource
    ) -> SensorResult | SkipReason:
        now = dt.datetime.now(dt.UTC)
        stats = queue_stats(queue_path, now)
        if stats is None:
            return SkipReason(f"no webhook queue at {queue_path} yet (zakaz webhooks creates it on its first start)")
        figures = heartbeat_figures(stats)
        previous = json.loads(context.cursor) if context.cursor else {}
        written_at = dt.datetime.fromisoformat(previous["at"]) if previous.get("at") else None
        if previous.get("figures") == figures and written_at is not None and now - written_at < UNCHANGED_EVERY:
            return SkipReason("webhook queue unchanged since the last heartbeat")
        with warehouse.get_client() as client:
            record_webhook_heartbeat(
                client, quality.org, stats.last_received_at, stats.entries, bad_signatures(stats), recorded_at=now
            )
        written = (
            f"wrote a heartbeat to meta_webhooks: {figures} (last received, kept, bad signatures in the last hour)"
        )
        # Written outside any run: a materialization tells the UI the table holds this heartbeat.
        heartbeat = AssetMaterialization(
            "meta_webhooks",
            metadata={
                "deliveries kept (deliveries)": stats.entries,
                "bad signatures in the last hour (deliveries)": bad_signatures(stats),
            },
        )
        return SensorResult(
            skip_reason=SkipReason(written),
            cursor=json.dumps({"figures": figures, "at": now.isoformat()}),
            asset_events=[heartbeat],
        )

    return _sensor
