"""The Qtickets side: the REST API client, the probe and its findings, the ways of fetching
orders whatever the API does with filters, and the flattening of its answers into rows.

Nothing here knows about Dagster or ClickHouse; the simulator of the API lives beside this
package (``zakaz_pipeline/simulator/``).
"""
