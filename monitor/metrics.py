"""The Prometheus metric catalogue: every riskmon collector, created on a registry passed in.

Conventions
-----------
- Names are ``riskmon_<noun>_<unit>``; counters end in ``_total`` (prometheus_client adds it).
- Labels are low-cardinality and bounded: an event kind, a stage, a reason, a rule id, a category,
  a severity, a sink, a Kafka topic and partition. Never an account, operator, transaction or
  alert id. ``branch`` appears on one metric only (:attr:`RiskmonMetrics.alerts`, alert volume,
  not event volume) and is capped at ``max_branches`` distinct values; the rest count as
  ``other``.
- No I/O here: serving ``/metrics`` or pushing to a Pushgateway is the adapters' job.
- Known label values are created up front, so dashboards and alert rules see a zero series
  rather than no series before the first event.

>>> from prometheus_client import CollectorRegistry, generate_latest
>>> metrics = RiskmonMetrics(CollectorRegistry(), process=False)
>>> metrics.dead_letter("schema")
>>> b'riskmon_dead_letters_total{reason="schema"} 1.0' in generate_latest(metrics.registry)
True
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final, NamedTuple

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.gc_collector import GCCollector

from monitor.alerts import Alert
from monitor.events import Event, OperatorAction, Transaction

if TYPE_CHECKING:
    from monitor.rules.kinds.schedule import BusinessCalendar

__all__ = [
    "DEAD_LETTER_REASONS",
    "EVENT_KINDS",
    "OTHER_BRANCH",
    "SINKS",
    "RiskmonMetrics",
]

EVENT_KINDS: Final = ("transaction", "operator_action", "undecodable")
OUTCOMES: Final = ("ok", "dead_letter")
DEAD_LETTER_REASONS: Final = ("invalid_json", "schema", "encoding", "too_large")
TIME_REASONS: Final = ("late_event", "time_out_of_range")
"""Dead-letter reasons of valid events whose event time is refused (:mod:`monitor.watermark`)."""
SINKS: Final = ("kafka", "jsonl")
"""Sinks the adapters in this repository feed; alerts/ adds its own when it reports here."""
OTHER_BRANCH: Final = "other"
# Per event: microseconds to tens of milliseconds. Per batch: up to seconds.
EVENT_BUCKETS: Final = (
    1e-5,
    2.5e-5,
    5e-5,
    1e-4,
    2.5e-4,
    5e-4,
    1e-3,
    2.5e-3,
    5e-3,
    0.01,
    0.05,
    0.25,
)
BATCH_BUCKETS: Final = (1e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# Event time to detection: a live stream is seconds behind; deadlines fire minutes after.
# Branch KPIs: handling time and review latency, event-time seconds (few buckets: one per branch).
KPI_BUCKETS: Final = (30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 4 * 3600.0)
PENDING_CAP: Final = 100_000
DETECTION_BUCKETS: Final = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
# Scores are "higher is more anomalous", mostly in [0, 1]; a few scorers use z-like scales.
SCORE_BUCKETS: Final = (
    0.05,
    0.1,
    0.2,
    0.3,
    0.4,
    0.5,
    0.6,
    0.7,
    0.8,
    0.9,
    0.95,
    0.99,
    1.0,
    2,
    5,
    10,
)


class RiskmonMetrics:
    """Every riskmon collector, registered on ``registry``. Make one per registry.

    Parameters
    ----------
    registry
        Where the collectors live; never the global default registry.
    stages
        Stage names (``decode``, ``engine``, ``transaction``...) whose series exist from the start.
    process
        Also register the process, platform and GC collectors (one set per registry).
    max_branches
        Distinct ``branch`` label values kept on :attr:`alerts`; later branches count as ``other``.
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        stages: Iterable[str] = (),
        process: bool = True,
        max_branches: int = 500,
    ) -> None:
        self.registry = registry
        self.max_branches = max_branches
        self._branches: set[str] = set()
        self._ok: dict[str, tuple[Counter, Counter]] = {}
        r = registry
        self.events_consumed = Counter(
            "riskmon_events_consumed",
            "Input records read (file lines or Kafka messages), by event kind.",
            ["kind"],
            registry=r,
        )
        self.events_processed = Counter(
            "riskmon_events_processed",
            "Input records finished: ok (run or forwarded) or dead_letter, by event kind.",
            ["kind", "outcome"],
            registry=r,
        )
        self.dead_letters = Counter(
            "riskmon_dead_letters",
            "Input records dead-lettered, by reason.",
            ["reason"],
            registry=r,
        )
        self.source_dead_letters = Counter(
            "riskmon_source_dead_letters",
            "Input records dead-lettered, by source (input topic, or file for replay).",
            ["source"],
            registry=r,
        )
        self.detection_latency = Histogram(
            "riskmon_detection_latency_seconds",
            "Wall-clock detection time minus the alert's event time (live worker only).",
            buckets=DETECTION_BUCKETS,
            registry=r,
        )
        self.event_processing = Histogram(
            "riskmon_event_processing_seconds",
            "Wall-clock time to process one event, by stage.",
            ["stage"],
            buckets=EVENT_BUCKETS,
            registry=r,
        )
        self.batch_processing = Histogram(
            "riskmon_batch_processing_seconds",
            "Wall-clock time to process one batch of events, by stage.",
            ["stage"],
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.rule_hits = Counter(
            "riskmon_rule_hits",
            "Alerts raised by each rule or model.",
            ["rule_id", "category"],
            registry=r,
        )
        self.alerts = Counter(
            "riskmon_alerts",
            "Alerts emitted, by category, severity and (capped) branch.",
            ["category", "severity", "branch"],
            registry=r,
        )
        self._branch_kpis(r)
        self.model_score = Histogram(
            "riskmon_model_score",
            "Anomaly scores per scorer (higher is more anomalous).",
            ["scorer"],
            buckets=SCORE_BUCKETS,
            registry=r,
        )
        self.model_threshold = Gauge(
            "riskmon_model_threshold", "Current alert threshold per scorer.", ["scorer"], registry=r
        )
        self.watermark_lag = Gauge(
            "riskmon_watermark_lag_seconds",
            "Wall clock minus the stage's lowest partition watermark.",
            ["stage"],
            registry=r,
        )
        self.deadlines_pending = Gauge(
            "riskmon_deadlines_pending",
            "Deadlines waiting for the watermark.",
            ["stage"],
            registry=r,
        )
        self.state_entries = Gauge(
            "riskmon_state_entries", "Keys held in the stage's state.", ["stage"], registry=r
        )
        self._sink_counters(r)
        self.consumer_lag = Gauge(
            "riskmon_consumer_lag_messages",
            "Kafka high watermark minus the next offset to process, per owned input partition.",
            ["topic", "partition"],
            registry=r,
        )
        self.rule_pack = Info("riskmon_rule_pack", "The loaded rule pack.", registry=r)
        self.rule_mode = Info(
            "riskmon_rule",
            "Each loaded rule's mode (live or shadow), to join with riskmon_rule_hits_total.",
            ["rule_id", "category"],
            registry=r,
        )
        if process:
            ProcessCollector(registry=r)
            PlatformCollector(registry=r)
            GCCollector(registry=r)
        self._initialise(stages)

    def _sink_counters(self, r: CollectorRegistry) -> None:
        counters = sink_counters(r)
        self.sink_sent, self.sink_failed, self.sink_retried, self.sink_dead_lettered = counters

    def _initialise(self, stages: Iterable[str]) -> None:
        for kind in EVENT_KINDS:
            self.events_consumed.labels(kind)
        for kind in EVENT_KINDS[:2]:
            self.events_processed.labels(kind, "ok")
        for kind in EVENT_KINDS:
            self.events_processed.labels(kind, "dead_letter")
        for reason in (*DEAD_LETTER_REASONS, *TIME_REASONS):
            self.dead_letters.labels(reason)
        for stage in stages:
            self.event_processing.labels(stage)
            self.batch_processing.labels(stage)
        for sink in SINKS:
            self.init_sink(sink)

    def init_sink(self, sink: str) -> None:
        """Create the zero series of ``sink`` (call once per sink at start-up)."""
        for collector in (self.sink_sent, self.sink_failed, self.sink_retried):
            collector.labels(sink)
        self.sink_dead_lettered.labels(sink)

    def init_stages(self, stages: Iterable[str]) -> None:
        """Create the zero series of the state gauges of ``stages``."""
        for stage in stages:
            self.event_processing.labels(stage)
            self.batch_processing.labels(stage)
            self.state_entries.labels(stage)
            self.deadlines_pending.labels(stage)

    def set_rule_pack(
        self, version: str, pack_hash: str, rules: Iterable[tuple[str, str]] = ()
    ) -> None:
        """Record the loaded pack; ``rules`` (``(rule_id, category)`` pairs) get zero hit series."""
        self.rule_pack.info({"version": version, "hash": pack_hash})
        for rule_id, category in rules:
            self.rule_hits.labels(rule_id, category)

    def set_rule_modes(self, rules: Iterable[tuple[str, str, str]]) -> None:
        """Record ``(rule_id, category, mode)`` of every loaded rule (replacing the old pack's),
        so a dashboard can compare shadow rules with live ones."""
        self.rule_mode.clear()
        for rule_id, category, mode in rules:
            self.rule_mode.labels(rule_id, category).info({"mode": mode})

    def consumed(self, kind: str) -> None:
        self.events_consumed.labels(kind).inc()

    def processed(self, kind: str) -> None:
        """One record read and run (or forwarded) successfully (hot path: children cached)."""
        children = self._ok.get(kind)
        if children is None:
            children = self._ok[kind] = (
                self.events_consumed.labels(kind),
                self.events_processed.labels(kind, "ok"),
            )
        children[0].inc()
        children[1].inc()

    def dead_letter(self, reason: str, source: str | None = None) -> None:
        """One record read that could not be decoded (from ``source``, if known)."""
        self.events_consumed.labels("undecodable").inc()
        self.events_processed.labels("undecodable", "dead_letter").inc()
        self.dead_letters.labels(reason).inc()
        if source is not None:
            self.source_dead_letters.labels(source).inc()

    def time_rejected(self, kind: str, reason: str, source: str | None = None) -> None:
        """One valid event dead-lettered for its event time (``late_event``,
        ``time_out_of_range``)."""
        self.events_consumed.labels(kind).inc()
        self.events_processed.labels(kind, "dead_letter").inc()
        self.dead_letters.labels(reason).inc()
        if source is not None:
            self.source_dead_letters.labels(source).inc()

    def alert_emitted(self, alert: Alert) -> None:
        """Count one alert by rule, category, severity and branch."""
        self.rule_hits.labels(alert.rule_id, alert.category).inc()
        self.alerts.labels(alert.category, alert.severity, self.branch(alert.branch_id)).inc()

    # ------------------------------------------------------------ branch managers' KPIs

    def _branch_kpis(self, r: CollectorRegistry) -> None:
        self.calendar: BusinessCalendar | None = None
        self._initiated: OrderedDict[str, float] = OrderedDict()
        self._kpi_branches: set[str] = set()
        self.branch_transactions = Counter(
            "riskmon_branch_transactions",
            "Transactions initiated, by (capped) branch and channel.",
            ["branch", "channel"],
            registry=r,
        )
        self.branch_handling = Histogram(
            "riskmon_branch_handling_seconds",
            "Event time from a transaction's initiation to its posting, by (capped) branch.",
            ["branch"],
            buckets=KPI_BUCKETS,
            registry=r,
        )
        self.branch_review_latency = Histogram(
            "riskmon_branch_review_latency_seconds",
            "Event time from a transaction's initiation to its approval, by (capped) branch.",
            ["branch"],
            buckets=KPI_BUCKETS,
            registry=r,
        )
        self.branch_postings = Counter(
            "riskmon_branch_postings",
            "Transactions posted, by (capped) branch (the reversal rate's denominator).",
            ["branch"],
            registry=r,
        )
        self.branch_reversals = Counter(
            "riskmon_branch_reversals",
            "Transactions reversed, by (capped) branch.",
            ["branch"],
            registry=r,
        )
        self.branch_logins = Counter(
            "riskmon_branch_logins",
            "Operator log-ins by (capped) branch, inside or after business hours (hours label).",
            ["branch", "hours"],
            registry=r,
        )

    def set_calendar(self, calendar: BusinessCalendar) -> None:
        """The business calendar that tells after-hours log-ins apart (the after-hours rule's)."""
        self.calendar = calendar

    def branch_kpis(self, event: Event) -> None:
        """Feed the per-branch KPI series from one processed event, in event time.

        Pairs a transaction's ``initiated`` with its ``posted`` and an approval (at most
        ``PENDING_CAP`` transactions remembered, oldest forgotten first); the ``branch`` label is
        capped like :attr:`alerts`'s. A branch's first event creates its zero series.
        """
        label = self.branch(event.branch_id)
        if label not in self._kpi_branches:
            self._kpi_branches.add(label)
            self.branch_handling.labels(label)
            self.branch_review_latency.labels(label)
            self.branch_postings.labels(label)
            self.branch_reversals.labels(label)
            for hours in ("business", "after"):
                self.branch_logins.labels(label, hours)
        moment = event.occurred_at.timestamp()
        if isinstance(event, Transaction):
            if event.status == "initiated":
                self.branch_transactions.labels(label, event.channel).inc()
                self._initiated[event.txn_id] = moment
                if len(self._initiated) > PENDING_CAP:
                    self._initiated.popitem(last=False)
            elif event.status == "posted":
                self.branch_postings.labels(label).inc()
                began = self._initiated.pop(event.txn_id, None)
                if began is None:  # posted straight away: count it as one transaction
                    self.branch_transactions.labels(label, event.channel).inc()
                else:
                    self.branch_handling.labels(label).observe(max(0.0, moment - began))
            else:
                self.branch_reversals.labels(label).inc()
                self._initiated.pop(event.txn_id, None)
        elif isinstance(event, OperatorAction):
            if event.action == "approve" and event.target_txn_id is not None:
                began = self._initiated.get(event.target_txn_id)
                if began is not None:
                    self.branch_review_latency.labels(label).observe(max(0.0, moment - began))
            elif event.action == "login":
                calendar = self.calendar
                if calendar is None:
                    from monitor.ops import default_calendar

                    calendar = self.calendar = default_calendar()
                inside = calendar.is_open(event.occurred_at, event.branch_id)
                self.branch_logins.labels(label, "business" if inside else "after").inc()

    def branch(self, branch_id: str | None) -> str:
        """The ``branch`` label of ``branch_id``: itself while under the cap, else ``other``."""
        if branch_id is None:
            return "none"
        if branch_id in self._branches:
            return branch_id
        if len(self._branches) >= self.max_branches:
            return OTHER_BRANCH
        self._branches.add(branch_id)
        return branch_id

    def observe_score(self, scorer: str, score: float) -> None:
        """One anomaly score of ``scorer`` (for the models' adapters)."""
        self.model_score.labels(scorer).observe(score)

    def set_threshold(self, scorer: str, threshold: float) -> None:
        """The current alert threshold of ``scorer``."""
        self.model_threshold.labels(scorer).set(threshold)


class SinkCounters(NamedTuple):
    sent: Counter
    failed: Counter
    retried: Counter
    dead_lettered: Counter


def sink_counters(registry: CollectorRegistry) -> SinkCounters:
    """The one definition of the ``riskmon_sink_*_total{sink}`` counters (also used by alerts/)."""

    def counter(name: str, doc: str) -> Counter:
        return Counter(f"riskmon_sink_{name}", doc, ["sink"], registry=registry)

    return SinkCounters(
        counter("sent", "Notifications a sink delivered."),
        counter("failed", "Notifications a sink could not deliver after all its attempts."),
        counter("retried", "Delivery attempts a sink repeated."),
        counter("dead_lettered", "Notifications a sink wrote to its dead-letter file."),
    )
