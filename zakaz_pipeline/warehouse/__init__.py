"""The ClickHouse side: connection, versioned DDL, atomic slice writes, the IO manager.

Nothing here knows about Qtickets; table names and SQL are the warehouse's own.
"""
