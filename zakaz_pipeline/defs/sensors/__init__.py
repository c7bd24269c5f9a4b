"""Sensors: what the pipeline does on its own between schedules.

``late_changes`` re-runs the sales days of orders changed later; ``run_monitoring`` writes
every finished run to ``meta_job_runs``; ``alerts`` decides when people are told (its pure
rules in ``alert_rules``), and ``delivery`` takes the message to a webhook or Telegram.
"""
