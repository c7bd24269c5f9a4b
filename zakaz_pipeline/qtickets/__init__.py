"""The Qtickets side: the REST API client, the order/event flattening, and a simulator.

Nothing here knows about Dagster or ClickHouse.
"""
