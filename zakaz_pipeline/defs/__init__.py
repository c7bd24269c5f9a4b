"""Dagster wiring: assets, jobs, schedules and resources over the qtickets and warehouse layers."""
