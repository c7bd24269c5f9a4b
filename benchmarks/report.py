"""RESULTS.md and the console summary, rendered from what the harness measured.

``report`` assembles the sections in order; each section is a function of the results
alone, so a partial report (written after each scale) has the same shape as the final one.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Sequence
from typing import Any

import orjson

from benchmarks import views
from benchmarks.environment import CLI_MODULE
from benchmarks.machine import machine
from benchmarks.results import ScaleResult
from benchmarks.tables import markdown_table, sparkline, text_table
from benchmarks.targets import HEADER, TARGETS, pace_rows, refused_rows, target_rows, tick_requests

DATASET_HEADER = [
    "scale", "orders", "paid orders", "tickets (paid)", "events", "shows (seated)", "seats", "first sale day",
    "daily partitions", "generation s", "simulator RSS MB",
]  # fmt: skip


def report(
    args: argparse.Namespace,
    results: list[ScaleResult],
    view_rows: list[dict[str, Any]],
    view_scale: int | None,
    command: str,
    view_parts: Sequence[tuple[str, int, int]] = (),
    pace: ScaleResult | None = None,
    refused: ScaleResult | None = None,
) -> tuple[str, str]:
    """(RESULTS.md, the console summary) for ``results`` (zero latency), ``pace`` (the "API
    pace" section) and ``refused`` (its "filters refused" dialect), each None when skipped;
    ``view_rows`` empty before views are timed."""
    info = machine()
    rows = target_rows(results, view_rows, view_scale)
    if pace is not None:
        rows += pace_rows(pace)
    if refused is not None:
        rows += refused_rows(refused)
    md = _head(args, command, info, rows)
    if pace is not None:
        md += _pace(pace)
    if refused is not None:
        md += refused_section(refused)
    md += _datasets(args, results)
    md += _serving(results)
    for r in results:
        md += _details(r)
    if view_rows:
        md += _views(args, view_rows, view_scale, view_parts)
    md += _peer(results)
    md += _profiles(results)
    text = "\n".join(
        [
            f"zakaz benchmarks — {info['date']} — {info['cpu']}, {info['ram']}, Python {info['python']}",
            info["versions"],
            "",
            text_table(HEADER, rows),
        ]
    )
    return "\n".join(md), text


def _head(args: argparse.Namespace, command: str, info: dict[str, str], rows: list[list[str]]) -> list[str]:
    return [
        "# zakaz benchmarks",
        "",
        (
            f"Written by `{command}` on {info['date']}. Every figure is the median of {runs_text(args)} "
            "(min–max beside it), on this machine, with the same invocation. Regenerate with the same command; "
            "see benchmarks/README.md for what each figure measures."
        ),
        "",
        "## Machine",
        "",
        markdown_table(["", ""], [[k, v] for k, v in info.items()]),
        "",
        "## Results against the targets",
        "",
        markdown_table(HEADER, rows),
        "",
    ]


def _datasets(args: argparse.Namespace, results: list[ScaleResult]) -> list[str]:
    rows = [
        [
            f"{r.scale}×",
            f"{r.dataset['orders']:,}",
            f"{r.dataset['paid_orders']:,}",
            f"{r.dataset['tickets']:,} ({r.dataset['paid_tickets']:,})",
            str(r.dataset["events"]),
            f"{r.dataset['shows']} ({r.dataset['seated_shows']})",
            f"{r.dataset['seats']:,}",
            r.dataset["first_sale_day"],
            str(r.partitions),
            f"{r.dataset['generate_seconds']:.0f}",
            f"{r.simulator_rss_mb:,.0f}",
        ]
        for r in results
    ]
    return [
        "## Datasets (simulator, own process)",
        "",
        markdown_table(DATASET_HEADER, rows),
        "",
        (
            "History: the account's orders spread over "
            f"{args.history_days} days before now; the sync starts at the first sale day "
            "(`QTICKETS_HISTORY_START` = `--from` = that day), so it spans one daily partition per day since."
        ),
        "",
    ]


def _serving(results: list[ScaleResult]) -> list[str]:
    rows = [
        [
            f"{r.scale}×",
            f"{r.serve_cold['seconds']:.1f}",
            f"{r.fig('serve_pages').median:,.0f}",
            f"{r.fig('serve_orders').median:,.0f}",
            f"{r.fig('serve_mb').median:,.0f}",
        ]
        for r in results
        if r.serve
    ]
    return [
        "## Simulator serving rate (keyset scan of every order, 500 per page, raw bytes)",
        "",
        markdown_table(["scale", "first scan s (cold: encodes)", "pages/s", "orders/s", "MB/s"], rows),
        "",
        (
            "The simulator keeps each item's JSON per account revision, so after the first scan a page is a join of "
            "pre-encoded bytes. The floor below includes the server's share of every request."
        ),
        "",
        "## Raw-fetch floor, sync and tick details",
        "",
    ]


def _details(r: ScaleResult) -> list[str]:
    """One scale's floor, sync and tick: what was fetched and written, and where the run's time went."""
    last = r.floor[-1] if r.floor else {}
    sync_runs = ", ".join(f"{m.seconds:.1f} s / {m.rss_mb:.0f} MB" for m in r.sync)
    tick_runs = ", ".join(f"{m.seconds:.1f} s / {m.rss_mb:.0f} MB" for m in r.tick)
    b, t = r.sync_breakdown, r.tick_breakdown
    return [
        f"### {r.scale}×",
        "",
        (
            f"- floor: {last.get('orders', 0):,} paid orders ({last.get('tickets', 0):,} tickets) in "
            f"{last.get('pages', 0)} pages, {last.get('events', 0)} events, seats of {last.get('shows_on_sale', 0)} "
            f"shows on sale; orders alone {statistics.median(f['orders_seconds'] for f in r.floor):.1f} s of "
            f"{r.fig('floor_s').median:.1f} s"
        ),
        (
            f"- sync runs (wall / peak RSS of the tree): {sync_runs}; peak anonymous (private) memory "
            f"{r.fig('sync_anon').median:.0f} MB, the rest is file-backed (chDB's library and other code)"
        ),
        _written(r),
        (
            f"- the last sync's run: {b.get('events')} Dagster events ({b.get('planned')} planned + "
            f"{b.get('materializations')} materializations), {_s(b.get('before_run_start_s'))} from its first event "
            f"to RUN_START, {_s(b.get('run_s'))} from RUN_START to RUN_SUCCESS; the rest of the "
            f"{r.sync[-1].seconds:.1f} s wall is process start, imports, definitions and the summary"
        ),
        "- its steps: " + steps_text(b.get("steps", {})),
        (
            f"- RSS over the last sync (each mark = max in 1/60 of its wall time; peak "
            f"{r.sync[-1].rss_mb:.0f} MB): `{sparkline(r.sync[-1].timeline)}`"
        ),
        f"- tick runs: {tick_runs}; the last tick's run: {t.get('events')} events, "
        f"{_s(t.get('run_s'))} RUN_START→RUN_SUCCESS; steps: " + steps_text(t.get("steps", {})),
        "",
    ]


def _written(r: ScaleResult) -> str:
    """What the last sync left in the warehouse, and its own closing summary."""
    c = r.counts
    return (
        f"- sync wrote: {c.get('stg_qtickets_api_orders_raw', 0):,} ticket rows, "
        f"{c.get('fact_qtickets_sales_daily', 0):,} daily-sales rows over {c.get('sales_days', 0)} "
        f"sales days, {c.get('dim_events', 0)} events, {c.get('dim_shows', 0)} shows; summary: "
        + ", ".join(f"{k} {v}" for k, v in r.sync_summary.items())
    )


def _views(
    args: argparse.Namespace,
    view_rows: list[dict[str, Any]],
    view_scale: int | None,
    view_parts: Sequence[tuple[str, int, int]],
) -> list[str]:
    rows = [
        [v["query"], str(v["rows"]), f"{v['p50_ms']:.1f}", f"{v['p95_ms']:.1f}", f"{v['max_ms']:.1f}"]
        for v in view_rows
    ]
    return [
        f"## DataLens queries ({view_scale}× warehouse, {args.view_repeats} timed runs each)",
        "",
        (
            "Run in the harness process with clickhouse-connect on `chdb://<warehouse>` (database `zakaz`) after "
            "the sync subprocess exited; embedded, so no network time is included."
        ),
        "",
        markdown_table(["query", "rows", "p50 ms", "p95 ms", "max ms"], rows),
        "",
        "Active parts per table (every query over all history opens one part per daily partition at least): "
        + ", ".join(f"{table} {parts:,} parts / {rows:,} rows" for table, parts, rows in view_parts)
        + ".",
        "",
        "```sql",
        *(f"-- {name}\n{sql};" for name, sql in views.QUERIES),
        "```",
        "",
    ]


def _pace(r: ScaleResult) -> list[str]:
    """The "API pace" section: what a seller waits for when every request costs a round trip."""
    last = r.floor[-1] if r.floor else {}
    runs = ", ".join(f"{m.seconds:.1f} s / {m.rss_mb:.0f} MB" for m in r.sync)
    ticks = ", ".join(f"{m.seconds:.1f} s" for m in r.tick)
    peers = ", ".join(f"{m.seconds:.1f} s" for m in r.peer) or r.peer_note or "skipped"
    in_flight = ", ".join(f"{what} {most}" for what, most in r.peak_in_flight.items())
    return [
        f"## API pace: {r.pace.latency_ms:g} ms a request, at most {r.pace.max_per_page} items a page",
        "",
        (
            f"The 1× dataset ({r.dataset['orders']:,} orders) behind a simulator that delays every answer and caps "
            "every list page whatever `perPage` asks. The sequential floor makes the requests a correct full sync "
            f"needs (the sync's payment windows, events, seats), one at a time, JSON parsed: {last.get('pages', 0)} "
            f"order pages, {last.get('events', 0)} events, seats of {last.get('shows_on_sale', 0)} shows."
        ),
        "",
        "- sequential floor runs: " + ", ".join(f"{f['seconds']:.1f} s" for f in r.floor),
        f"- full-history sync runs (wall / peak RSS): {runs}; steps of the last: "
        + steps_text(r.sync_breakdown.get("steps", {})),
        f"- tick runs: {ticks}; steps of the last: " + steps_text(r.tick_breakdown.get("steps", {})),
        _tick_split(r),
        f"- dlt peer runs: {peers}",
        f"- most requests the simulator held at once: {in_flight}",
        "",
        *(line for title, text in r.profiles for line in (f"### {title}", "", "```", text, "```", "")),
    ]


REFUSED_TITLE = "## API pace, filters refused"


def refused_section(r: ScaleResult, note: str = "") -> list[str]:
    """The "API pace, filters refused" section: the real record's dialect, read by the page scan."""
    last, d, found = r.floor[-1] if r.floor else {}, r.dataset, r.findings
    floor = r.per_run("floor", len(r.floor) or 1)
    probe_line = next(iter(r.probe[-1].stdout.splitlines()), "") if r.probe else ""
    in_flight = ", ".join(f"{what} {most}" for what, most in r.peak_in_flight.items())
    lag = found.get("payment_lag_seconds", 0) / 86400
    return [
        f"{REFUSED_TITLE}: {r.pace.latency_ms:g} ms a request, 50 orders and 10 events a page, seats per tariff",
        "",
        (
            f"The 1× dataset ({d['orders']:,} orders, {d['events']} events, {d['history_days']} days) behind "
            f"`python -m benchmarks.simulator {' '.join(r.pace.argv())}`: the dialect the real record shows "
            "(`zakaz_pipeline/simulator/dialect.py`). A date or id condition on `/orders` is answered 503 "
            "`UNKNOWN_ERROR`, a page holds 50 orders or 10 events whatever `perPage` asks, and a tariff show lists "
            "each seat once per tariff, so a sync reads the orders by the page scan (`qtickets/paid_orders.py`). "
            "The sequential floor (`python -m benchmarks.fetch floor --strategy scan --max-in-flight 1`: the "
            "product's `PaidOrders` with findings that refuse every filter, then `iter_events`, then the seats of "
            "each show on sale, one request at a time, JSON parsed) makes the requests a correct scan-strategy "
            f"full sync needs, {floor['all']:,.0f} of them: {last.get('pages', 0):,} order pages (the whole list from "
            f"page 1), {floor.get('events', 0):.0f} of events ({last.get('events', 0)} events), the seats of "
            f"{last.get('shows_on_sale', 0)} shows on sale."
        ),
        "",
        "- sequential floor runs: " + ", ".join(f"{f['seconds']:.1f} s" for f in r.floor),
        _at_limit(r),
        (
            "- full-history sync runs (wall / peak RSS): "
            + ", ".join(f"{m.seconds:.1f} s / {m.rss_mb:.0f} MB" for m in r.sync)
            + "; each on a fresh `DAGSTER_HOME`, so each probes the API first and records the findings, and its "
            f"figure includes the probe: a sync made {_requests(r, 'sync', len(r.sync))}; steps of the last: "
            + steps_text(r.sync_breakdown.get("steps", {}))
        ),
        _sync_split(r),
        (
            f"- the probe by itself (`zakaz probe --no-record`, once, after the syncs): {_requests(r, 'probe', 1)} "
            f"as the simulator counts them, retries included (the command's own count of its steps: `{probe_line}`), "
            f"{r.probe[-1].seconds:.1f} s for the whole command; a refused filter is retried, then told from an "
            "outage by the same request without it, then tried once more (`qtickets/client.py`), with urllib3's "
            "backoff between the tries"
            if r.probe
            else "- the probe by itself: not measured"
        ),
        (
            f"- findings the last sync recorded: orders strategy {found.get('orders_strategy')}, filters "
            + ", ".join(f"{name} {verdict}" for name, verdict in found.get("filters", {}).items())
            + f", {found.get('orders_per_page')} orders and {found.get('events_per_page')} events a page, tariff "
            f"copies {found.get('tariffs')}, longest payment lag {lag:.1f} days"
        ),
        (
            "- tick runs (`zakaz sync --from <yesterday> --to <today>` on the last sync's warehouse and findings): "
            + ", ".join(f"{m.seconds:.1f} s" for m in r.tick)
            + f"; a tick made {_requests(r, 'tick', len(r.tick))}; steps of the last: "
            + steps_text(r.tick_breakdown.get("steps", {}))
        ),
        (
            "- what bounds a tick's requests: `/orders` page 1 with `perPage` 1 (the command's token check); the "
            "scan's page 1 and last page (page size and total); the first page of the orders created from "
            f"yesterday 00:00 less the payment lag (the longest seen, here {lag:.1f} days; at least 3) and 1 h, found "
            "from the end of the list backwards (1, 2, 4, … pages back, then halving: about 2 · log₂ of the pages it "
            "reaches back); those pages to the end of the list (lag + ~2 days of orders at the account's daily "
            "rate, 50 a page); every events page (⌈events / 10⌉: the whole event list, which follows the account's "
            "events, not its orders); one seats request per show on sale. Nothing in it counts the order history."
        ),
        _variant_line(r),
        f"- most requests the simulator held at once: {in_flight}{_variant_in_flight(r.variant)}",
        *([f"\n{note}"] if note else []),
        "",
    ]


def _at_limit(r: ScaleResult) -> str:
    at = r.floor_at_limit
    if not at:
        return "- the same requests at the sync's limit: not measured"
    return (
        f"- the same requests {TARGETS['pace_in_flight']} at a time (once, `--max-in-flight "
        f"{TARGETS['pace_in_flight']}`): {at['seconds']:.1f} s, of which the orders {at['orders_seconds']:.1f} s — "
        "what fetching alone takes at the limit, parsed and dropped"
    )


def _sync_split(r: ScaleResult) -> str:
    """Where the last sync's wall time went: the wait its requests impose at the limit, its
    orders step and how many requests that step kept in flight on average, the rest."""
    orders_step = r.sync_breakdown.get("steps", {}).get("stg_qtickets_api_orders_raw")
    if not r.sync or not orders_step:
        return "- the last sync's split: not recorded"
    per, wall, latency = r.per_run("sync", len(r.sync)), r.sync[-1].seconds, r.pace.latency_ms / 1000
    limit, orders = TARGETS["pace_in_flight"], per.get("orders", 0)
    return (
        f"- a sync's {per['all']:,.0f} requests at {r.pace.latency_ms:g} ms, {limit} at a time, keep it waiting at "
        f"least {per['all'] * latency / limit:.0f} s; the last sync ({wall:.0f} s) spent {orders_step:.0f} s in its "
        f"orders step (the probe included), whose {orders:,.0f} `/orders` requests kept "
        f"{orders * latency / orders_step:.1f} in flight on average (requests × latency ÷ the step's time); the other "
        f"{wall - orders_step:.0f} s are the command's start, the events, the facts, the checks and the views"
    )


def _variant_line(r: ScaleResult) -> str:
    v = r.variant
    if v is None or not v.tick:
        return "- the same with a shorter history: not measured"
    d = v.dataset
    return (
        f"- the same pace and dialect with {d['history_days']} days of history at the same daily rate "
        f"({d['orders']:,} orders, {d['events']} events; `--refused-variant-days`): one full sync "
        f"{v.sync[-1].seconds:.1f} s ({_requests(v, 'sync', 1)}), then tick runs "
        + ", ".join(f"{m.seconds:.1f} s" for m in v.tick)
        + f"; a tick made {_requests(v, 'tick', len(v.tick))}, against {tick_requests(r)} with "
        f"{r.dataset['history_days']} days of history: the `/orders` requests stay, the events pages follow the account's events and the seats "
        "its shows on sale"
    )


def _variant_in_flight(v: ScaleResult | None) -> str:
    return "; with the shorter history: " + ", ".join(f"{w} {m}" for w, m in v.peak_in_flight.items()) if v else ""


def _requests(r: ScaleResult, what: str, runs: int) -> str:
    """``2,585 (orders 2,490, events 23, seats 56; 18 answered other than 200)``."""
    per = r.per_run(what, runs)
    kinds = ", ".join(f"{k} {per[k]:,.0f}" for k in ("orders", "events", "seats", "other") if per.get(k))
    refused = f"; {per['refused']:,.0f} answered other than 200" if per.get("refused") else ""
    return f"{per['all']:,.0f} requests ({kinds}{refused})"


def _tick_split(r: ScaleResult) -> str:
    """The last tick's wall time: its Dagster run and everything around it, then the floors
    under it (starting, Dagster's own share, the API's wait) that bound what work can cut."""
    run, wall = r.tick_breakdown.get("run_s"), r.tick[-1].seconds if r.tick else None
    if run is None or wall is None:
        return "- the last tick's run: not recorded"
    memory = f"peak RSS {r.tick[-1].rss_mb:.0f} MB, of which {r.tick[-1].peak_anon_mb:.0f} MB anonymous"
    lines = [
        f"- the last tick: {wall:.1f} s, of which RUN_START→RUN_SUCCESS {run:.1f} s and {wall - run:.1f} s around it "
        f"(interpreter and imports, the preflight request, the engine start, the Dagster instance, the summary); {memory}"
    ]
    process, process_rss = r.fig("process_floor_s"), r.fig("process_floor_rss")
    if process and process_rss:
        lines.append(
            "- a sync process that runs nothing (`python -m benchmarks.process_floor`: the command's imports and "
            f"definitions, the instance and the warehouse opened, the same exit): {process.median:.1f} s "
            f"({process.spread()}), peak RSS {process_rss.median:.0f} MB — the part of the tick's time and memory "
            "targets no change to the run can reach"
        )
    dagster, dagster_rss, tick = r.fig("dagster_floor_s"), r.fig("dagster_floor_rss"), r.fig("tick_s")
    if dagster and dagster_rss and process and tick:
        lines.append(
            "- the sync graph with every body emptied, run as a tick (`python -m benchmarks.dagster_floor`: the same "
            "steps, assets, checks and two days through the command's own path, no request, no query): "
            f"{dagster.median:.1f} s ({dagster.spread()}), peak RSS {dagster_rss.median:.0f} MB — "
            f"{dagster.median - process.median:.1f} s of it Dagster's own planning, events and steps; the tick's own "
            f"work (requests, writes, checks, views) is the remaining {tick.median - dagster.median:.1f} s of the median tick"
        )
    requests, most = r.requests.get("tick"), r.peak_in_flight.get("tick")
    if requests and most and r.pace and r.tick:
        per_tick = requests / len(r.tick)
        lines.append(
            f"- a tick's {per_tick:.0f} requests at {r.pace.latency_ms:g} ms each, at most {most} in flight, keep "
            f"it waiting at least {per_tick * r.pace.latency_ms / 1000 / most:.1f} s of that"
        )
    return "\n".join(lines)


def _peer(results: list[ScaleResult]) -> list[str]:
    peer = next((r for r in results if r.peer), None)
    if not peer:
        return ["## dlt peer", "", next((r.peer_note for r in results if r.peer_note), "Skipped (`--skip-peer`)."), ""]
    out = peer.peer_output[-1]
    return [
        "## dlt peer",
        "",
        f"`benchmarks/peer_dlt.py` against the same simulator and dataset ({peer.scale}×), in its own venv; "
        f"runs: " + ", ".join(f"{m.seconds:.1f} s / {m.rss_mb:.0f} MB" for m in peer.peer) + ".",
        (
            f"Its last output: {orjson.dumps(out).decode()} — daily-sales rows {out.get('daily_rows')} vs ours "
            f"{peer.counts.get('fact_qtickets_sales_daily')}."
        ),
        "",
    ]


def _profiles(results: list[ScaleResult]) -> list[str]:
    profiled = [r for r in results if r.profiles]
    if not profiled:
        return []
    md = [
        "## Profiles of missed targets",
        "",
        (
            f"The CLI run once more under `python -m cProfile -o … -m {CLI_MODULE} sync …` on a fresh "
            "warehouse (cProfile slows Python-heavy code, so read shares rather than seconds). Buckets are the "
            "cumulative time of one function each and overlap (imports include loading the definitions; "
            "execute_in_process includes fetch, flatten, inserts and event writes)."
        ),
        "",
    ]
    for r in profiled:
        for title, text in r.profiles:
            md += [f"### {r.scale}×: {title}", "", "```", text, "```", ""]
    return md


def runs_text(args: argparse.Namespace) -> str:
    if args.big_runs == args.runs or max(args.scales) == 1:
        return f"{args.runs} run(s)"
    return f"{args.runs} run(s) at 1× and {args.big_runs} at larger scales"


def steps_text(steps: dict[str, float], floor: float = 0.25) -> str:
    """Steps that took at least ``floor`` seconds; the others (checks, views) summed."""
    big = [f"{key} {seconds:.1f} s" for key, seconds in steps.items() if seconds >= floor]
    small = [seconds for seconds in steps.values() if seconds < floor]
    if small:
        big.append(f"{len(small)} other steps (checks, views) {sum(small):.1f} s in all")
    return ", ".join(big)


def _s(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} s"
