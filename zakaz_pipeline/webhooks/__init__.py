"""Qtickets webhooks, the receiving side: the ASGI app (``app.py``) that checks a delivery's
signature (``signature.py``) and records what recomputation needs in a durable SQLite queue
(``queue.py``), which the ``qtickets_webhooks`` sensor reads. No Dagster, no ClickHouse here:
the receiver runs as a process of its own (``zakaz webhooks``) beside the embedded warehouse,
which only one process may open."""
