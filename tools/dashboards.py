# ruff: noqa: E501  (PromQL and descriptions are kept on one line each, as Grafana shows them)
"""Dashboards as code: build the Grafana dashboards with grafana-foundation-sdk.

    .venv/bin/python tools/dashboards.py            # write deploy/grafana/dashboards/*.json
    .venv/bin/python tools/dashboards.py --check    # exit 1 if the committed JSON differs

Each dashboard is a list of rows and panels below; the SDK builds Grafana's own schema objects and
this module only lays panels out left to right (24 columns, rows of height 8) and writes sorted,
indented JSON. ``tests/test_dashboards.py`` regenerates them and compares with the committed files.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import bargauge, heatmap, prometheus, stat, table, timeseries
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "deploy" / "grafana" / "dashboards"
DATASOURCE = model.DataSourceRef(type_val="prometheus", uid="prometheus")
HEIGHT = 8


@dataclass(frozen=True)
class Q:
    expr: str
    legend: str | None = None
    instant: bool = False
    fmt: str | None = None


@dataclass(frozen=True)
class P:
    kind: str
    title: str
    unit: str
    width: int
    description: str
    queries: tuple[Q, ...]
    overlay: bool = False  # also draw the branches' open `operations` alerts (right axis, bars)


@dataclass(frozen=True)
class Row:
    title: str


@dataclass
class Board:
    uid: str
    title: str
    description: str
    tags: list[str]
    variables: list[tuple[str, str, str]]  # (name, label, label_values query)
    items: list[P | Row] = field(default_factory=list)


def p(kind: str, title: str, unit: str, width: int, description: str, *queries: Q) -> P:
    return P(kind, title, unit, width, description, queries)


BUILDERS: dict[str, Any] = {
    "timeseries": timeseries.Panel,
    "stat": stat.Panel,
    "bargauge": bargauge.Panel,
    "table": table.Panel,
    "heatmap": heatmap.Panel,
}
FORMATS = {"table": PromQueryFormat.TABLE, "heatmap": PromQueryFormat.HEATMAP}


def _target(query: Q, ref: str) -> prometheus.Dataquery:
    target = prometheus.Dataquery().expr(query.expr).ref_id(ref).datasource(DATASOURCE)
    target = target.instant() if query.instant else target.range()
    if query.fmt is not None:
        target = target.format(FORMATS[query.fmt])
    if query.legend is not None:
        target = target.legend_format(query.legend)
    return target


def _variable(name: str, label: str, values: str) -> dash.QueryVariable:
    return (
        dash.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query({"query": values, "refId": name})
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .include_all(True)
        .all_value(".*")
        .multi(True)
        .current(model.VariableOption(selected=True, text="All", value="$__all"))
    )


def build(board: Board) -> dict[str, Any]:
    """The dashboard as Grafana's JSON model (a plain dict)."""
    builder = (
        dash.Dashboard(board.title)
        .uid(board.uid)
        .description(board.description)
        .tags(board.tags)
        .timezone("browser")
        .editable()
        .refresh("30s")
        .time("now-6h", "now")
        .version(1)
        .annotations([])
    )
    for variable in board.variables:
        builder = builder.with_variable(_variable(*variable))
    x = y = 0
    for ident, item in enumerate(board.items, start=1):
        if isinstance(item, Row):
            y += HEIGHT if x else 0
            x = 0
            builder = builder.with_row(
                dash.Row(item.title).id(ident).grid_pos(model.GridPos(h=1, w=24, x=0, y=y))
            )
            y += 1
            continue
        if x + item.width > 24:
            x, y = 0, y + HEIGHT
        panel = (
            BUILDERS[item.kind]()
            .id(ident)
            .title(item.title)
            .description(item.description)
            .datasource(DATASOURCE)
            .unit(item.unit)
            .grid_pos(model.GridPos(h=HEIGHT, w=item.width, x=x, y=y))
        )
        queries = (*item.queries, OPEN_OPERATIONS) if item.overlay else item.queries
        for ref, query in zip("ABCDEFGH", queries, strict=False):
            panel = panel.with_target(_target(query, ref))
        if item.overlay:
            panel = panel.override_by_query(
                "ABCDEFGH"[len(item.queries)],
                [
                    model.DynamicConfigValue(id_val="custom.drawStyle", value="bars"),
                    model.DynamicConfigValue(id_val="custom.axisPlacement", value="right"),
                    model.DynamicConfigValue(id_val="custom.fillOpacity", value=40),
                    model.DynamicConfigValue(id_val="unit", value="short"),
                    model.DynamicConfigValue(id_val="decimals", value=0),
                    model.DynamicConfigValue(
                        id_val="color", value={"mode": "fixed", "fixedColor": "red"}
                    ),
                ],
            )
        builder = builder.with_panel(panel)
        x += item.width
    encoded: dict[str, Any] = json.loads(json.dumps(builder.build(), cls=JSONEncoder))
    result: dict[str, Any] = _without_nulls(encoded)
    return result


def _without_nulls(value: Any) -> Any:
    """Drop the SDK's unset (null) fields, e.g. ``options``, so Grafana applies its defaults."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


# Open `operations` incidents per branch: alerts fired (severity high) minus those resolved
# (info); 0 for a branch with KPI series and no operations alert yet (a series that never
# existed is read as 0, never as "no data").
_OPS = 'riskmon_alerts_total{instance=~"$instance", branch=~"$branch", category="operations", severity="%s"}'
_FIRED = f"sum by (branch) ({_OPS % 'high'})"
_RESOLVED = f"sum by (branch) ({_OPS % 'info'})"
_BRANCHES = (
    'sum by (branch) (riskmon_branch_postings_total{instance=~"$instance", branch=~"$branch"})'
)
OPEN_OPERATIONS = Q(
    f"({_FIRED} - ({_RESOLVED} or 0 * {_FIRED})) or 0 * {_BRANCHES}",
    legend="open operations alerts {{branch}}",
)


def kpi(title: str, unit: str, description: str, *queries: Q) -> P:
    """A branch KPI time series with the branches' open `operations` alerts overlaid."""
    return P("timeseries", title, unit, 12, description, queries, overlay=True)


SRE = Board(
    uid="riskmon-sre",
    title="riskmon / SRE overview",
    description="Throughput, lag, latency, errors and sinks of the riskmon workers.",
    tags=["riskmon", "sre"],
    variables=[("instance", "worker", "label_values(riskmon_events_consumed_total, instance)")],
)
RISK = Board(
    uid="riskmon-risk",
    title="riskmon / Risk",
    description=(
        "Alerts by category, branch and severity, top rules, model scores, pending reviews,"
        " shadow rules beside live ones, and the branches' operational KPIs with their"
        " operations alerts."
    ),
    tags=["riskmon", "risk"],
    variables=[
        ("instance", "worker", "label_values(riskmon_events_consumed_total, instance)"),
        ("branch", "branch", "label_values(riskmon_alerts_total, branch)"),
    ],
)

SRE.items = [
    Row("Throughput and errors"),
    p(
        "timeseries",
        "Events consumed per second",
        "ops",
        12,
        "",
        Q(
            'sum by (kind) (rate(riskmon_events_consumed_total{instance=~"$instance"}[$__rate_interval]))',
            legend="{{kind}}",
        ),
    ),
    p(
        "timeseries",
        "Dead letters per second by reason",
        "ops",
        12,
        "",
        Q(
            'sum by (reason) (rate(riskmon_dead_letters_total{instance=~"$instance"}[$__rate_interval]))',
            legend="{{reason}}",
        ),
    ),
    p(
        "timeseries",
        "Dead-letter share of input",
        "percentunit",
        12,
        "Alert RiskmonDeadLetterRateHigh fires above 1% for 5 minutes.",
        Q(
            'sum(rate(riskmon_dead_letters_total{instance=~"$instance"}[5m])) / sum(rate(riskmon_events_consumed_total{instance=~"$instance"}[5m]))',
            legend="dead letters",
        ),
    ),
    p(
        "timeseries",
        "Targets up",
        "bool",
        12,
        "",
        Q('up{job=~"riskmon.*", instance=~"$instance"}', legend="{{instance}}"),
    ),
    Row("Lag"),
    p(
        "timeseries",
        "Kafka consumer lag by topic",
        "short",
        12,
        "High watermark minus the next offset, summed over owned partitions.",
        Q(
            'sum by (topic) (riskmon_consumer_lag_messages{instance=~"$instance"})',
            legend="{{topic}}",
        ),
    ),
    p(
        "timeseries",
        "Watermark lag by stage",
        "s",
        12,
        "Wall clock minus the lowest partition watermark. Replays of old files show their age here.",
        Q(
            'max by (stage) (riskmon_watermark_lag_seconds{instance=~"$instance"})',
            legend="{{stage}}",
        ),
    ),
    Row("Latency"),
    p(
        "timeseries",
        "p99 processing time per event",
        "s",
        12,
        "",
        Q(
            'histogram_quantile(0.99, sum by (stage, le) (rate(riskmon_event_processing_seconds_bucket{instance=~"$instance"}[$__rate_interval])))',
            legend="{{stage}}",
        ),
    ),
    p(
        "timeseries",
        "p99 processing time per batch",
        "s",
        12,
        "",
        Q(
            'histogram_quantile(0.99, sum by (stage, le) (rate(riskmon_batch_processing_seconds_bucket{instance=~"$instance"}[$__rate_interval])))',
            legend="{{stage}}",
        ),
    ),
    p(
        "timeseries",
        "Event time to detection (p50, p99)",
        "s",
        12,
        "Live worker only: includes the allowed lateness and deadline waits.",
        Q(
            'histogram_quantile(0.5, sum by (le) (rate(riskmon_detection_latency_seconds_bucket{instance=~"$instance"}[$__rate_interval])))',
            legend="p50",
        ),
        Q(
            'histogram_quantile(0.99, sum by (le) (rate(riskmon_detection_latency_seconds_bucket{instance=~"$instance"}[$__rate_interval])))',
            legend="p99",
        ),
    ),
    p(
        "timeseries",
        "Pending deadlines and state entries",
        "short",
        12,
        "",
        Q(
            'sum by (stage) (riskmon_deadlines_pending{instance=~"$instance"})',
            legend="pending {{stage}}",
        ),
        Q(
            'sum by (stage) (riskmon_state_entries{instance=~"$instance"})',
            legend="entries {{stage}}",
        ),
    ),
    Row("Sinks and process"),
    p(
        "timeseries",
        "Sink deliveries per second",
        "ops",
        12,
        "",
        Q(
            'sum by (sink) (rate(riskmon_sink_sent_total{instance=~"$instance"}[$__rate_interval]))',
            legend="sent {{sink}}",
        ),
        Q(
            'sum by (sink) (rate(riskmon_sink_failed_total{instance=~"$instance"}[$__rate_interval]))',
            legend="failed {{sink}}",
        ),
        Q(
            'sum by (sink) (rate(riskmon_sink_retried_total{instance=~"$instance"}[$__rate_interval]))',
            legend="retried {{sink}}",
        ),
        Q(
            'sum by (sink) (increase(riskmon_sink_dead_lettered_total{instance=~"$instance"}[$__rate_interval]))',
            legend="dead-lettered {{sink}}",
        ),
    ),
    p(
        "timeseries",
        "CPU and memory",
        "short",
        12,
        "",
        Q(
            'rate(process_cpu_seconds_total{job=~"riskmon.*", instance=~"$instance"}[$__rate_interval])',
            legend="cpu {{instance}}",
        ),
        Q(
            'process_resident_memory_bytes{job=~"riskmon.*", instance=~"$instance"} / 1e9',
            legend="RSS GB {{instance}}",
        ),
    ),
    p(
        "table",
        "Rule pack per worker",
        "short",
        24,
        "Alert RiskmonRulePackChanged fires when this changes.",
        Q('riskmon_rule_pack_info{instance=~"$instance"}', instant=True, fmt="table"),
    ),
]
RISK.items = [
    Row("Alerts"),
    p(
        "stat",
        "Alerts in range",
        "short",
        6,
        "",
        Q(
            'sum(increase(riskmon_alerts_total{instance=~"$instance", branch=~"$branch"}[$__range]))'
        ),
    ),
    p(
        "stat",
        "Pending dual reviews",
        "short",
        6,
        "Transactions waiting for their approval deadline (dual review).",
        Q('sum(riskmon_deadlines_pending{instance=~"$instance", stage="transaction"})'),
    ),
    p(
        "timeseries",
        "Alerts per hour by category",
        "short",
        12,
        "",
        Q(
            'sum by (category) (rate(riskmon_alerts_total{instance=~"$instance", branch=~"$branch"}[$__rate_interval])) * 3600',
            legend="{{category}}",
        ),
    ),
    p(
        "timeseries",
        "Alerts per hour by severity",
        "short",
        12,
        "",
        Q(
            'sum by (severity) (rate(riskmon_alerts_total{instance=~"$instance", branch=~"$branch"}[$__rate_interval])) * 3600',
            legend="{{severity}}",
        ),
    ),
    p(
        "bargauge",
        "Alerts by branch (top 15, in range)",
        "short",
        12,
        "",
        Q(
            'topk(15, sum by (branch) (increase(riskmon_alerts_total{instance=~"$instance", branch=~"$branch"}[$__range])))',
            legend="{{branch}}",
            instant=True,
        ),
    ),
    p(
        "bargauge",
        "Top rules (in range)",
        "short",
        12,
        "",
        Q(
            'topk(10, sum by (rule_id, category) (increase(riskmon_rule_hits_total{instance=~"$instance"}[$__range])))',
            legend="{{rule_id}}",
            instant=True,
        ),
    ),
    p(
        "table",
        "Alerts by category and severity (in range)",
        "short",
        12,
        "",
        Q(
            'sum by (category, severity) (increase(riskmon_alerts_total{instance=~"$instance", branch=~"$branch"}[$__range]))',
            instant=True,
            fmt="table",
        ),
    ),
    Row("Models"),
    p(
        "heatmap",
        "Model score distribution",
        "short",
        12,
        "Scores per bucket; higher is more anomalous.",
        Q(
            'sum by (le) (rate(riskmon_model_score_bucket{instance=~"$instance"}[$__rate_interval]))',
            legend="{{le}}",
            fmt="heatmap",
        ),
    ),
    p(
        "timeseries",
        "Model score p50 / p99 and threshold",
        "short",
        12,
        "",
        Q(
            'histogram_quantile(0.5, sum by (scorer, le) (rate(riskmon_model_score_bucket{instance=~"$instance"}[$__rate_interval])))',
            legend="p50 {{scorer}}",
        ),
        Q(
            'histogram_quantile(0.99, sum by (scorer, le) (rate(riskmon_model_score_bucket{instance=~"$instance"}[$__rate_interval])))',
            legend="p99 {{scorer}}",
        ),
        Q(
            'max by (scorer) (riskmon_model_threshold{instance=~"$instance"})',
            legend="threshold {{scorer}}",
        ),
    ),
    Row("Shadow rules"),
    p(
        "timeseries",
        "Shadow vs live: alerts per hour by category",
        "short",
        12,
        "Alerts of mode: shadow rules (stored, never delivered) beside those of live rules, per category; riskmon_rule_hits_total joined with riskmon_rule_info{mode} from the worker or replay.",
        Q(
            'sum by (category, mode) (rate(riskmon_rule_hits_total{instance=~"$instance"}[$__rate_interval]) * on (job, instance, rule_id, category) group_left (mode) riskmon_rule_info{instance=~"$instance"}) * 3600',
            legend="{{category}} {{mode}}",
        ),
    ),
    p(
        "table",
        "Shadow vs live: alerts per rule (in range)",
        "short",
        12,
        "Per rule, its mode and its alerts in the range: compare a shadow rule with the live rules of its category before switching it on.",
        Q(
            'sum by (category, mode, rule_id) (increase(riskmon_rule_hits_total{instance=~"$instance"}[$__range]) * on (job, instance, rule_id, category) group_left (mode) riskmon_rule_info{instance=~"$instance"})',
            instant=True,
            fmt="table",
        ),
    ),
]
RISK.items += [
    Row("Branch operations"),
    kpi(
        "Transactions per minute by branch and channel",
        "short",
        "Initiated transactions (event time) per branch and channel; red bars: the branch's open operations alerts (volume_drop, volume_surge...).",
        Q(
            'sum by (branch, channel) (rate(riskmon_branch_transactions_total{instance=~"$instance", branch=~"$branch"}[$__rate_interval])) * 60',
            legend="{{branch}} {{channel}}",
        ),
    ),
    kpi(
        "Handling time p90 by branch (initiated to posted)",
        "s",
        "Event time from initiation to posting; red bars: open operations alerts (slow_posting...).",
        Q(
            'histogram_quantile(0.9, sum by (branch, le) (rate(riskmon_branch_handling_seconds_bucket{instance=~"$instance", branch=~"$branch"}[$__rate_interval])))',
            legend="p90 {{branch}}",
        ),
    ),
    kpi(
        "Review latency p90 by branch (initiated to approved)",
        "s",
        "Event time from initiation to a supervisor's approval; red bars: open operations alerts (slow_review...).",
        Q(
            'histogram_quantile(0.9, sum by (branch, le) (rate(riskmon_branch_review_latency_seconds_bucket{instance=~"$instance", branch=~"$branch"}[$__rate_interval])))',
            legend="p90 {{branch}}",
        ),
    ),
    kpi(
        "Reversal rate by branch",
        "percentunit",
        "Reversals per posting; red bars: open operations alerts (reversal_rate...).",
        Q(
            'sum by (branch) (rate(riskmon_branch_reversals_total{instance=~"$instance", branch=~"$branch"}[$__rate_interval])) / sum by (branch) (rate(riskmon_branch_postings_total{instance=~"$instance", branch=~"$branch"}[$__rate_interval]))',
            legend="{{branch}}",
        ),
    ),
    kpi(
        "Log-ins per hour by branch, after business hours",
        "short",
        "Operator log-ins outside the business calendar's hours (nights, weekends, public holidays); red bars: open operations alerts.",
        Q(
            'sum by (branch) (rate(riskmon_branch_logins_total{instance=~"$instance", branch=~"$branch", hours="after"}[$__rate_interval])) * 3600',
            legend="{{branch}}",
        ),
    ),
    kpi(
        "Dead letters per minute by source",
        "short",
        "Input records dead-lettered per source (input topic, or file in replay): a feed sending garbage; red bars: open operations alerts (feed_errors...).",
        Q(
            'sum by (source) (rate(riskmon_source_dead_letters_total{instance=~"$instance"}[$__rate_interval])) * 60',
            legend="{{source}}",
        ),
    ),
    p(
        "table",
        "Open operations alerts by branch",
        "short",
        12,
        "Operations incidents fired and not yet resolved, per branch (alerts of category operations: firing minus resolved).",
        Q(OPEN_OPERATIONS.expr, instant=True, fmt="table"),
    ),
]

BOARDS = (SRE, RISK)


def render(board: Board) -> str:
    return json.dumps(build(board), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed JSON differs")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    stale = []
    for board in BOARDS:
        path = args.out / f"{board.uid}.json"
        text = render(board)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"stale dashboards (run tools/dashboards.py): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
