"""Where the API's findings live (``qtickets/findings.py``): observations of the external
asset ``qtickets_api`` in the Dagster instance.

Every run and sensor of the deployment shares that instance, and the UI shows each
observation in the asset's catalog page (strategy, page sizes, what each filter does), so
an operator sees what the pipeline believes about the API and when it learned it.
``zakaz probe`` records one; a run that finds none probes first; a fetch that finds
something new (a filter ignored or refused, a longer payment lag) records the updated
findings. Each observation names its ``org``, so accounts sharing an instance keep theirs.
"""

from __future__ import annotations

import dagster as dg

from zakaz_pipeline.qtickets.client import QticketsClient
from zakaz_pipeline.qtickets.findings import FILTERS, Findings
from zakaz_pipeline.qtickets.probe import probe

QTICKETS_API = dg.AssetKey("qtickets_api")
# Observations read to find an org's latest: enough for several accounts sharing one instance.
LOOKBACK = 50


def qtickets_api_spec() -> dg.AssetSpec:
    return dg.AssetSpec(
        QTICKETS_API,
        description="The seller's Qtickets REST API as probed: page sizes, what each /orders filter does, seat "
        "answers, the strategy runs fetch orders with. Observed by `zakaz probe` and by runs that learn more.",
        group_name="qtickets",
        kinds={"api"},
    )


def latest_findings(instance: dg.DagsterInstance, org: str) -> Findings | None:
    """The newest findings recorded for ``org``, or None when the API was never probed."""
    for record in instance.fetch_observations(QTICKETS_API, limit=LOOKBACK).records:
        observation = record.asset_observation
        metadata = observation.metadata if observation is not None else {}
        raw = _value(metadata.get("findings"))
        if _value(metadata.get("org")) == org and isinstance(raw, str):
            return Findings.from_json(raw)
    return None


def observation(findings: Findings, org: str, why: str) -> dg.AssetObservation:
    """The findings as an observation the catalog shows: the JSON and each fact readable."""
    return dg.AssetObservation(
        asset_key=QTICKETS_API,
        description=why,
        metadata={
            "org": org,
            "findings": dg.MetadataValue.text(findings.to_json()),
            "orders strategy": findings.orders_strategy(),
            "late changes strategy": findings.late_changes_strategy(),
            **{f"filter {name}": findings.verdict(name) for name in FILTERS},
            "orders per page": findings.orders_per_page or 0,
            "events per page": findings.events_per_page or 0,
            "longest payment lag (hours)": round(findings.payment_lag_seconds / 3600, 1),
            "seats": f"{findings.seats}; tariff copies {findings.tariffs}; quotas {findings.quotas}",
        },
    )


def findings_for_run(context: dg.AssetExecutionContext, client: QticketsClient, org: str) -> Findings:
    """The recorded findings; with none, the probe's, recorded now (a run with no findings probes first)."""
    found = latest_findings(context.instance, org)
    if found is not None:
        return found
    report = probe(client)
    for line in report.verdict():
        context.log.info("API probe: %s", line)
    context.log_event(observation(report.findings, org, "probed by the first run that needed it"))
    return report.findings


def record_learned(context: dg.AssetExecutionContext, findings: Findings, org: str, why: str) -> None:
    context.log.info("the API's findings changed: %s", why)
    context.log_event(observation(findings, org, why))


def _value(entry: object) -> object:
    return getattr(entry, "value", entry)
