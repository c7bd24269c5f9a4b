"""``zakaz check``: run every asset check as one Dagster run and print what each found.

The checks run through the ``qtickets_checks`` job, so their results land in the UI next
to the ones runs produce. A check that did not evaluate (skipped with a reason, or
crashed) is reported as such, never as passed.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import TYPE_CHECKING

from zakaz_pipeline.cli.preflight import check_warehouse_exists
from zakaz_pipeline.settings import Settings, debug_enabled

if TYPE_CHECKING:
    from dagster import AssetCheckEvaluation, AssetCheckKey


def check_command(_args: argparse.Namespace) -> int:
    """Checks read the warehouse only: no Qtickets token or PII key is needed, and a
    warehouse that is not there is an error (exit 2), never created."""
    settings = Settings.from_env(need_secrets=False)
    check_warehouse_exists(settings)
    report = run_checks(settings)
    print(report.table())
    return 1 if report.failed else 0


@dataclass(frozen=True)
class CheckLine:
    check: str
    asset: str
    status: str  # PASSED, WARN, ERROR, SKIPPED, NOT RUN
    value: str
    threshold: str


@dataclass
class CheckReport:
    run_id: str
    lines: list[CheckLine]

    @property
    def failed(self) -> list[CheckLine]:
        """ERROR failures, and checks that crashed instead of answering."""
        return [line for line in self.lines if line.status in ("ERROR", "NOT RUN")]

    def table(self) -> str:
        head = ("check", "asset", "status", "value", "threshold")
        rows = [head, *((ln.check, ln.asset, ln.status, ln.value, ln.threshold) for ln in self.lines)]
        widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
        text = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
        verdict = (
            f"{len(self.failed)} check(s) failed: {', '.join(f'{ln.asset}.{ln.check}' for ln in self.failed)}"
            if self.failed
            else "all ERROR checks passed"
        )
        return "\n".join([f"run {self.run_id}", *text, verdict])


def run_checks(settings: Settings) -> CheckReport:
    """The ``qtickets_checks`` job run here, one line per check it holds, in the UI's order."""
    from dagster import AssetCheckKey, AssetKey

    from zakaz_pipeline.cli.console import RunConsole, console_logging
    from zakaz_pipeline.definitions import build_definitions
    from zakaz_pipeline.defs.checks import SERVER_ONLY, skipped_reasons
    from zakaz_pipeline.runtime.instance import open_instance
    from zakaz_pipeline.runtime.runs import execute_here, fail_runs_left_behind, record_in_warehouse

    job = build_definitions(settings).resolve_job_def("qtickets_checks")
    console = RunConsole()
    with open_instance() as instance:
        fail_runs_left_behind(instance, settings)
        try:
            result = execute_here(
                instance, job.name, tags={}, run_config=console_logging(debug_enabled()), listener=console
            )
        finally:
            console.close()
        skipped = skipped_reasons(entry.user_message for entry in instance.all_logs(result.run_id))
        record_in_warehouse(instance, result.run_id, settings)
    evaluations = {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}
    if settings.embedded:  # the rules its code location leaves out: skipped, and why
        skipped |= {f"{asset}:{name}": reason for (asset, name), reason in SERVER_ONLY.items()}
    keys = {*job.asset_layer.asset_graph.asset_check_keys}
    keys |= {AssetCheckKey(AssetKey(asset), name) for asset, name in SERVER_ONLY if settings.embedded}
    ordered = sorted(keys, key=lambda k: (k.asset_key.path, k.name))
    return CheckReport(result.run_id, [_line(key, evaluations, skipped) for key in ordered])


def _line(
    key: AssetCheckKey, evaluations: dict[tuple[str, str], AssetCheckEvaluation], skipped: dict[str, str]
) -> CheckLine:
    """A check that did not evaluate is SKIPPED (with the reason it logged) or NOT RUN, never passed."""
    asset = key.asset_key.to_user_string()
    evaluation = evaluations.get((asset, key.name))
    if evaluation is None:
        reason = skipped.get(key.to_user_string())
        status = "SKIPPED" if reason is not None else "NOT RUN"
        return CheckLine(key.name, asset, status, reason or "the check did not finish", "")
    from zakaz_pipeline.defs.checks import value_text

    metadata = {name: value.value for name, value in evaluation.metadata.items()}
    status = "PASSED" if evaluation.passed else evaluation.severity.value
    return CheckLine(key.name, asset, status, value_text(metadata), str(metadata.get("threshold", "")))
