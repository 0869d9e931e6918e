"""Per-branch operational KPIs in event time, and ``operations`` alerts, one per incident.

The stage keys every event by its branch. Per branch it counts, in five-minute buckets of event
time: transactions (by channel), handling time from ``initiated`` to ``posted``, review latency
(from a transaction's initiation to its approval), reversals and postings (the reversal rate),
log-ins outside business hours, and dead letters (fed in by replay and the worker's decoder
through :meth:`OpsStage.dead_letter`, since the engine never sees them).

A bucket closes when the watermark passes its end: the stage's deadline is always the end of the
oldest open bucket, so a branch that sends nothing still has its buckets closed and judged by
the timers. That is how a silent branch is detected: no event has to arrive.

Each closed bucket is compared with the branch's own usual value for that hour of a working or a
non-working day (48 running means and variances per KPI), read through the business calendar of
the after-hours rule (public holidays are non-working days, official make-up working days are
working days). The residual, in deviations from that usual value, is the series that a
:class:`~monitor.models.series.SeriesDetector` per KPI per branch scores (no seasonality of its
own: the calendar baseline carries it). The detector's score is the judge: a KPI is abnormal when
its score reaches ``OPEN_AT`` during a run of buckets that are also off by a margin that matters:

- ``volume_drop``: in business hours, a run of buckets under a quarter of the usual volume whose
  total is at least 3.5 deviations short of at least 10 expected transactions; a silent branch is
  the extreme case. Outside business hours (nights, Sundays, public holidays) volume is not judged.
- ``volume_surge``: two buckets in a row at least 6 deviations and twice the usual volume above.
- ``slow_posting``, ``slow_review``: three buckets in a row whose mean handling time over the
  last 30 minutes, or review latency over the last hour, is 4 deviations and three times above
  the usual for that hour.
- ``reversal_rate``: two buckets in a row with a reversal share over the last 30 minutes 4
  deviations and three times above the usual (and 5 points more).
- ``feed_errors``: two buckets in a row with at least 5 dead letters, 4 deviations above.

An incident is one alert: raised (``incident_status`` ``firing``) when it opens, and raised again
with the same ``alert_id`` (``incident_status`` ``resolved``, tagged ``resolved``) when the KPI is
back in its usual range; nothing is raised in between. The alert store marks the stored alert
resolved, and the Alertmanager sink sends it with ``endsAt``, so the firing alert resolves. A
KPI in an open incident, or in an abnormal run, is not learned, so an incident cannot teach the
baseline that it is normal. The explanation carries the detector's score (``detector_score``).

State per branch is bounded: the open buckets (one or two, given the lateness), at most
``PENDING_CAP`` transactions awaiting posting, 48 slots per KPI, the open incidents, and one
series detector per KPI (about 1 kB each). The live detectors are kept in memory and written into
the branch's value every hour of event time and on :meth:`OpsStage.snapshot`; a process that
lost them (a rebalance) restores them from there.
Everything is event time; nothing here reads the clock or does I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, time
from typing import Any

from monitor.events import Event, OperatorAction, Transaction, event_epoch
from monitor.findings import DetectorMeta, Finding
from monitor.models.series.detector import SeriesDetector
from monitor.models.series.state import SeriesStateError
from monitor.rules.kinds.schedule import BusinessCalendar, ScheduleRuleRuntime
from monitor.stage import StateMap

__all__ = [
    "BUCKET",
    "KPIS",
    "OPS_META",
    "REASON_KPI",
    "OpsStage",
    "default_calendar",
    "ruleset_calendar",
]

BUCKET = 300.0
"""Seconds of event time per bucket."""
HORIZON = 86_400.0
"""Buckets further than this behind the watermark are skipped unjudged (a long idle gap)."""
PENDING_CAP = 5_000
PENDING_MAX_AGE = 86_400.0
MAX_OPEN = 288
"""Open buckets kept per branch (only buckets with events take room); beyond, the oldest is
judged at once (a watermark lagging a day behind the events must not grow the state without
bound). A day, because the worker's watermark waits for its slowest input partition: the
operator-action partitions may carry nothing between the evening log-outs and the morning
log-ins, and a bucket judged before all its events arrived would differ from replay."""
MIN_SEEN = 36  # buckets a slot must have learned before it judges
FEED_SEEN = 12  # buckets a slot must have learned before its residuals feed the detector
WARMUP = 24  # residuals a detector learns before it scores
KPIS = ("vol", "ht", "rl", "rr", "dl")
KPI_NAMES = {
    "vol": "transactions per 5 min",
    "ht": "handling time, initiated to posted (s)",
    "rl": "review latency (s)",
    "rr": "reversal rate",
    "dl": "dead letters per 5 min",
}
REASON_KPI = {
    "volume_drop": "vol",
    "volume_surge": "vol",
    "slow_posting": "ht",
    "slow_review": "rl",
    "reversal_rate": "rr",
    "feed_errors": "dl",
}
# bucket counters: transactions, handling-time sum and count, reversals, postings,
# review-latency sum and count, after-hours log-ins, dead letters
N, HT_S, HT_N, RV, PS, RL_S, RL_N, AL, DL = range(9)
WINDOWED = (HT_S, HT_N, RL_S, RL_N, RV, PS)
HT_WINDOW, RL_WINDOW = 6, 12  # buckets over which handling time and review latency are judged
NEED = {"ht": 3, "rl": 3, "rr": 2, "dl": 2}  # abnormal buckets in a row before an alert
RR_WINDOW = 6  # buckets over which the reversal rate is judged (a branch posts a few per bucket)
OPEN_AT = 0.5
"""Series-detector score at which a KPI is abnormal (the detector's own alarm level)."""
ALARM_SURPRISE = 6.0
"""The detectors' alarm surprise in nats: the calendar baseline already took out the daily and
weekly pattern, so the residual needs less evidence than a raw series."""
VOLUME_SURPRISE = 3.0
"""The volume detector's: a run of low buckets is also held to a shortfall and a size, so its
score only has to say that the drop is new (an outage must be seen within 15 minutes)."""
RARE = 1e-4  # the tail probability of a run's total that counts as a drop
CLIP = 12.0  # residuals are clipped at this many deviations before the detector sees them
SAVE_EVERY = 3_600.0
"""Event-time seconds between the detectors' snapshots written into the state value."""

_EN = {
    "volume_drop": "Branch {branch_id}: {kpi} fell to {value} (usual {usual_low}-{usual_high} "
    "at this hour), abnormal for {abnormal_minutes} min since {since_local}.",
    "volume_surge": "Branch {branch_id}: {kpi} rose to {value} (usual {usual_low}-{usual_high} "
    "at this hour), abnormal for {abnormal_minutes} min since {since_local}.",
    "slow_posting": "Branch {branch_id}: {kpi} is {value} (usual {usual_low}-{usual_high} at "
    "this hour), abnormal for {abnormal_minutes} min since {since_local}.",
    "slow_review": "Branch {branch_id}: {kpi} is {value} (usual {usual_low}-{usual_high} at "
    "this hour), abnormal for {abnormal_minutes} min since {since_local}.",
    "reversal_rate": "Branch {branch_id}: {kpi} is {value} (usual {usual_low}-{usual_high} at "
    "this hour), abnormal for {abnormal_minutes} min since {since_local}.",
    "feed_errors": "Branch {branch_id}: {kpi} is {value} (usual {usual_low}-{usual_high} at "
    "this hour), abnormal for {abnormal_minutes} min since {since_local}.",
}
_ZH = {
    "volume_drop": "网点 {branch_id}:{kpi_zh}降至 {value}(该时段通常 {usual_low}-{usual_high}),"
    "自 {since_local} 起异常 {abnormal_minutes} 分钟。",
    "volume_surge": "网点 {branch_id}:{kpi_zh}升至 {value}(该时段通常 {usual_low}-{usual_high}),"
    "自 {since_local} 起异常 {abnormal_minutes} 分钟。",
    "slow_posting": "网点 {branch_id}:{kpi_zh}为 {value}(该时段通常 {usual_low}-{usual_high}),"
    "自 {since_local} 起异常 {abnormal_minutes} 分钟。",
    "slow_review": "网点 {branch_id}:{kpi_zh}为 {value}(该时段通常 {usual_low}-{usual_high}),"
    "自 {since_local} 起异常 {abnormal_minutes} 分钟。",
    "reversal_rate": "网点 {branch_id}:{kpi_zh}为 {value}(该时段通常 {usual_low}-{usual_high}),"
    "自 {since_local} 起异常 {abnormal_minutes} 分钟。",
    "feed_errors": "网点 {branch_id}:{kpi_zh}为 {value}(该时段通常 {usual_low}-{usual_high}),"
    "自 {since_local} 起异常 {abnormal_minutes} 分钟。",
}
KPI_ZH = {
    "vol": "每 5 分钟交易笔数",
    "ht": "交易处理时长(发起至入账,秒)",
    "rl": "复核时长(秒)",
    "rr": "冲正率",
    "dl": "每 5 分钟死信数",
}


OPS_META = DetectorMeta(
    id="ops_branch_kpi",
    title="Branch operations KPI out of its usual range",
    category="operations",
    severity="high",
    entity="branch",
    tags=("operations", "kpi", "branch"),
    templates={
        "en": _EN,
        "zh-CN": _ZH,
    },
    pack_version="riskmon-ops@1.0.0",
)


def default_calendar() -> BusinessCalendar:
    """The after-hours pack's calendar: 08:30-17:30 Asia/Shanghai, Mon-Fri, CN holidays."""
    return BusinessCalendar(
        "Asia/Shanghai", {}, (time(8, 30), time(17, 30)), ("mon", "tue", "wed", "thu", "fri"), "CN"
    )


def ruleset_calendar(rules: Iterable[object]) -> BusinessCalendar:
    """The after-hours rule's calendar if the rule set has a schedule rule, else the default."""
    for rule in rules:
        if isinstance(rule, ScheduleRuleRuntime):
            return rule.calendar
    return default_calendar()


def _empty() -> list[float]:
    return [0.0] * 9


class OpsStage:
    """Keyed stage (key: ``branch_id``) keeping the KPIs and raising ``operations`` alerts."""

    name = "operations"

    def __init__(self, calendar: BusinessCalendar | None = None) -> None:
        self.calendar = calendar if calendar is not None else default_calendar()
        self._live: dict[str, dict[str, SeriesDetector]] = {}
        """The live series detectors per branch and KPI (snapshots live in the state value)."""
        self._where: dict[str, int] = {}  # branch -> partition, for snapshot and forget

    # ------------------------------------------------------------------ KeyedStage

    def key_for(self, event: Event) -> str | None:
        return event.branch_id

    def process(self, key: str, event: Event, state: StateMap, partition: int = 0) -> list[Finding]:
        self._where[key] = partition
        old = state.get(key) or {}
        value = dict(old)
        moment = event_epoch(event)
        start = math.floor(moment / BUCKET) * BUCKET
        first = value.get("t")
        if first is None:
            value["t"] = first = start
        start = max(start, float(first))  # a late event counts in the oldest open bucket
        buckets = dict(value.get("k") or {})
        label = str(int(start))
        bucket = dict(buckets.get(label) or {"c": {}, "v": _empty()})
        counts = list(bucket["v"])
        if isinstance(event, Transaction):
            pending = value.get("p") or {}
            if event.status == "initiated":
                pending = dict(pending)
                pending[event.txn_id] = moment
                if len(pending) > PENDING_CAP:
                    del pending[next(iter(pending))]
                value["p"] = pending
                self._count(bucket, counts, event.channel)
            elif event.status == "posted":
                counts[PS] += 1
                began = pending.get(event.txn_id)
                if began is None:
                    self._count(bucket, counts, event.channel)
                else:
                    pending = dict(pending)
                    del pending[event.txn_id]
                    value["p"] = pending
                    counts[HT_S] += max(0.0, moment - float(began))
                    counts[HT_N] += 1
            else:  # reversed
                counts[RV] += 1
                if event.txn_id in pending:
                    pending = dict(pending)
                    del pending[event.txn_id]
                    value["p"] = pending
        elif isinstance(event, OperatorAction):
            if event.action == "approve" and event.target_txn_id is not None:
                began = (value.get("p") or {}).get(event.target_txn_id)
                if began is not None:
                    counts[RL_S] += max(0.0, moment - float(began))
                    counts[RL_N] += 1
            elif event.action == "login" and not self.calendar.is_open(event.occurred_at, key):
                counts[AL] += 1
        bucket["v"] = counts
        buckets[label] = bucket
        findings: list[Finding] = []
        while len(buckets) > MAX_OPEN:
            oldest = float(value["t"])
            findings.extend(self._close(key, value, oldest, buckets.pop(str(int(oldest)), None)))
            value["t"] = oldest + BUCKET
        value["k"] = buckets
        state[key] = value
        return findings

    def dead_letter(self, key: str, moment: float, state: StateMap) -> None:
        """Count one dead letter of ``key`` (the branch it names, else its source) at event time
        ``moment`` (the decoder's best guess: the time it was read, or the stream's progress)."""
        value = dict(state.get(key) or {})
        start = math.floor(moment / BUCKET) * BUCKET
        first = value.get("t")
        if first is None:
            value["t"] = first = start
        label = str(int(max(start, float(first))))
        buckets = dict(value.get("k") or {})
        bucket = dict(buckets.get(label) or {"c": {}, "v": _empty()})
        counts = list(bucket["v"])
        counts[DL] += 1
        bucket["v"] = counts
        buckets[label] = bucket
        value["k"] = buckets
        state[key] = value

    def expire(self, key: str, watermark: float, state: StateMap) -> list[Finding]:
        old = state.get(key)
        if not old or old.get("t") is None:
            return []
        value = dict(old)
        buckets = dict(value.get("k") or {})
        findings: list[Finding] = []
        start = float(value["t"])
        if watermark - start > HORIZON:
            skip_to = math.floor((watermark - HORIZON) / BUCKET) * BUCKET
            for label in [b for b in buckets if float(b) < skip_to]:
                del buckets[label]
            value["r"] = None
            start = skip_to
        while start + BUCKET <= watermark:
            bucket = buckets.pop(str(int(start)), None)
            findings.extend(self._close(key, value, start, bucket))
            start += BUCKET
        value["t"] = start
        value["k"] = buckets
        pending = value.get("p") or {}
        if pending and watermark - min(pending.values()) > PENDING_MAX_AGE:
            value["p"] = {t: m for t, m in pending.items() if watermark - m <= PENDING_MAX_AGE}
        state[key] = value
        return findings

    def next_deadline(self, value: Any) -> float | None:
        if not value or value.get("t") is None:
            return None
        return float(value["t"]) + BUCKET

    def forget(self, partition: int) -> None:
        """Drop the live detectors of the branches of a partition this process no longer owns;
        they are restored from their latest snapshot in the state value when next needed."""
        for branch in [b for b, p in self._where.items() if p == partition]:
            self._live.pop(branch, None)
            del self._where[branch]

    def snapshot(self, state: StateMap, partition: int | None = None) -> None:
        """Write the live detectors (of ``partition``'s branches, or all) into their values."""
        for branch, detectors in self._live.items():
            if partition is not None and self._where.get(branch, partition) != partition:
                continue
            value = state.get(branch)
            if value is not None:
                state[branch] = _saved(dict(value), detectors)

    # ------------------------------------------------------------------ series detectors

    def _detectors(self, branch: str, value: Mapping[str, Any]) -> dict[str, SeriesDetector]:
        found = self._live.get(branch)
        if found is None:
            found = {}
            for kpi, saved in (value.get("d") or {}).items():
                try:
                    found[kpi] = SeriesDetector.from_state(saved)
                except SeriesStateError:  # a snapshot of another version: learn afresh
                    continue
            self._live[branch] = found
        return found

    def _score(
        self, detectors: dict[str, SeriesDetector], kpi: str, residual: float, at: datetime
    ) -> float:
        """The series detector's severity of this bucket's residual (deviations from the usual
        value for this hour of this kind of day), then it learns it.

        Severity, not the onset-discounted score: a run of abnormal buckets must stay abnormal
        for as long as it lasts, since the incident layer here opens on a run and resolves on
        recovery (one alert per incident either way)."""
        detector = detectors.get(kpi)
        if detector is None:
            detector = detectors[kpi] = _new_detector(kpi)
        detector.update(max(-CLIP, min(CLIP, residual)), at)
        return detector.severity()

    # ------------------------------------------------------------------ judging a bucket

    @staticmethod
    def _count(bucket: dict[str, Any], counts: list[float], channel: str) -> None:
        counts[N] += 1
        channels = dict(bucket["c"])
        channels[channel] = channels.get(channel, 0) + 1
        bucket["c"] = channels

    def _close(
        self, branch: str, value: dict[str, Any], start: float, bucket: dict[str, Any] | None
    ) -> list[Finding]:
        counts = bucket["v"] if bucket is not None else _empty()
        end = start + BUCKET
        middle = datetime.fromtimestamp(start + BUCKET / 2, UTC)
        local = self.calendar.local(middle, branch)
        is_open = self.calendar.is_open(middle, branch)
        working = self.calendar.is_working_day(local.date())
        slot = f"{'w' if working else 'o'}{local.hour}"
        base = {k: dict(v) for k, v in (value.get("b") or {}).items()}
        incidents = dict(value.get("i") or {})
        streaks = dict(value.get("s") or {})
        findings: list[Finding] = []
        value["m"] = {  # the last closed bucket's KPIs, for metrics
            "end": end,
            "channels": dict(bucket["c"]) if bucket is not None else {},
            "vol": counts[N],
            "after_hours_logins": counts[AL],
            "dead_letters": counts[DL],
        }

        def fire(
            reason: str, since: float, shown: float, usual: tuple[float, float], score: float
        ) -> None:
            incidents[reason] = [since, shown, usual[0], usual[1]]
            findings.append(
                self._finding(branch, reason, "firing", since, end, shown, usual, score)
            )

        def resolve(reason: str, shown: float, score: float) -> None:
            since, _, low, high = incidents.pop(reason)
            findings.append(
                self._finding(
                    branch, reason, "resolved", float(since), end, shown, (low, high), score
                )
            )

        # ---- volume, judged in business hours only
        detectors = self._detectors(branch, value)
        peaks = dict(value.get("q") or {})  # the highest detector score of each abnormal run
        obs = counts[N]
        seen, mean, var = _slot(base, "vol", slot)
        ready = seen >= MIN_SEEN
        spread = math.sqrt(max(var, mean, 0.25))
        usual = (max(0.0, mean - 2 * spread), mean + 2 * spread)
        fed = is_open and seen >= FEED_SEEN
        score = self._score(detectors, "vol", (obs - mean) / spread, middle) if fed else 0.0
        run = value.get("r")
        if "volume_drop" in incidents:
            if obs >= max(1.0, 0.5 * mean if ready else 1.0):
                resolve("volume_drop", obs, score)
            run = None
        elif is_open and ready and obs < 0.25 * mean:
            run = [start, 0.0, 0.0, 0.0, 0.0] if run is None else [*run, 0.0][:5]
            run[1] += mean
            run[2] += obs
            run[3] += max(var, mean, 0.25)
            run[4] = max(run[4], score)
            short = (run[2] - run[1]) / math.sqrt(run[3])  # the run's shortfall, in deviations
            # Counts near zero: the normal tail understates how unlikely they are, so a branch
            # whose volume is as regular as a Poisson count is also judged on the exact tail.
            rare = run[3] <= 1.5 * run[1] and _poisson_cdf(run[2], run[1]) <= RARE
            if run[1] >= 10.0 and (short <= -3.5 or rare) and run[4] >= OPEN_AT:
                buckets = max(1.0, (end - run[0]) / BUCKET)
                fire("volume_drop", run[0], round(run[2] / buckets, 1), usual, run[4])
                run = None
        else:
            run = None
        value["r"] = run
        surge = is_open and ready and obs >= 2 * mean + 5 and (obs - mean) / spread >= 6.0
        if "volume_surge" in incidents:
            calm = obs < mean + 3 * spread
            streaks["volume_surge"] = streaks.get("volume_surge", 0) + 1 if calm else 0
            if streaks["volume_surge"] >= 2:
                resolve("volume_surge", obs, score)
                streaks.pop("volume_surge")
        else:
            streaks["volume_surge"] = streaks.get("volume_surge", 0) + 1 if surge else 0
            peaks["volume_surge"] = max(peaks.get("volume_surge", 0.0), score) if surge else 0.0
            if streaks["volume_surge"] >= 2 and peaks["volume_surge"] >= OPEN_AT:
                fire("volume_surge", start - BUCKET, obs, usual, peaks["volume_surge"])
                streaks.pop("volume_surge")
        calm = run is None and not surge and (not ready or abs(obs - mean) / spread < 4.0)
        if calm and "volume_drop" not in incidents and "volume_surge" not in incidents:
            _learn(base, "vol", slot, obs)

        # ---- handling time, review latency, reversal rate, dead letters
        # Handling time, review latency and the reversal rate are sparse: judged over the last
        # 30, 60 and 30 minutes.
        recent = [*(value.get("w") or [])[-(RL_WINDOW - 1) :], [counts[i] for i in WINDOWED]]
        value["w"] = recent
        ht_s, ht_n = (sum(w[i] for w in recent[-HT_WINDOW:]) for i in (0, 1))
        rl_s, rl_n = (sum(w[i] for w in recent) for i in (2, 3))
        rv, decided = (
            sum(w[i] if len(w) > i else 0.0 for w in recent[-RR_WINDOW:]) for i in (4, 5)
        )
        decided += rv
        ht = ht_s / ht_n if ht_n >= 5 else None
        rl = rl_s / rl_n if rl_n >= 3 else None
        rr = rv / decided if decided >= 10 else None
        for reason, kpi, x in (
            ("slow_posting", "ht", ht),
            ("slow_review", "rl", rl),
            ("reversal_rate", "rr", rr),
            ("feed_errors", "dl", counts[DL]),
        ):
            if x is None:
                continue
            seen, mean, var = _slot(base, kpi, slot)
            if kpi in ("ht", "rl"):
                floor = max((0.2 * mean) ** 2, 1.0)
                bad = x >= 3 * mean
            elif kpi == "rr":
                floor = mean * (1 - mean) / decided + 1e-4
                bad = x >= max(3 * mean, mean + 0.05) and rv >= 3
            else:
                floor = max(mean, 0.5)
                bad = x >= 5
            spread = math.sqrt(max(var, floor))
            z = (x - mean) / spread
            usual_k = (max(0.0, mean - 2 * spread), mean + 2 * spread)
            shown = round(x, 3)
            judged = seen >= MIN_SEEN
            fed = seen >= FEED_SEEN
            score = self._score(detectors, kpi, z, middle) if fed else 0.0
            if reason in incidents:
                streaks[reason] = streaks.get(reason, 0) + 1 if z < 2.0 else 0
                if streaks[reason] >= 2:
                    resolve(reason, shown, score)
                    streaks.pop(reason)
                continue
            abnormal = judged and bad and z >= 4.0
            streaks[reason] = streaks.get(reason, 0) + 1 if abnormal else 0
            peaks[reason] = max(peaks.get(reason, 0.0), score) if abnormal else 0.0
            if streaks[reason] >= NEED[kpi] and peaks[reason] >= OPEN_AT:
                fire(reason, start - (NEED[kpi] - 1) * BUCKET, shown, usual_k, peaks[reason])
                streaks.pop(reason)
            elif not abnormal and (not judged or z < 3.0):  # learning, or calm
                _learn(base, kpi, slot, x)
        value["b"] = base
        value["i"] = incidents
        value["s"] = {k: v for k, v in streaks.items() if v}
        value["q"] = {k: v for k, v in peaks.items() if v and k in value["s"]}
        if start % SAVE_EVERY == 0:  # a recent snapshot of the detectors, in event time
            _saved(value, detectors)
        return findings

    def _finding(
        self,
        branch: str,
        reason: str,
        status: str,
        since: float,
        end: float,
        shown: float,
        usual: tuple[float, float],
        score: float,
    ) -> Finding:
        kpi = REASON_KPI[reason]
        since_at = datetime.fromtimestamp(since, UTC)
        values = {
            "branch_id": branch,
            "incident_status": status,
            "kpi": KPI_NAMES[kpi],
            "kpi_zh": KPI_ZH[kpi],
            "value": shown,
            "usual_low": round(usual[0], 1 if kpi == "vol" else 3),
            "usual_high": round(usual[1], 1 if kpi == "vol" else 3),
            "since": since_at,
            "since_local": self.calendar.local(since_at, branch).strftime("%Y-%m-%d %H:%M"),
            "abnormal_minutes": round((end - since) / 60),
            "detector_score": round(score, 3),
        }
        incident = f"ops:{branch}:{reason}:{int(since)}"
        return Finding(
            meta=OPS_META if status == "firing" else _RESOLVED_META,
            entity_id=branch,
            event_ids=(incident,),  # the resolution is the same alert (same alert_id)
            occurred_at=datetime.fromtimestamp(end, UTC),
            values=values,
            branch_id=branch,
            reason=reason,
        )


_RESOLVED_META = DetectorMeta(
    id=OPS_META.id,
    title=OPS_META.title + " (resolved)",
    category="operations",
    severity=OPS_META.severity,  # Alertmanager matches the firing alert by its labels
    entity="branch",
    tags=(*OPS_META.tags, "resolved"),
    templates={
        "en": {
            "": "RESOLVED: Branch {branch_id}: {kpi} is back at {value} (usual {usual_low}-"
            "{usual_high} at this hour) after {abnormal_minutes} min abnormal since {since_local}."
        },
        "zh-CN": {
            "": "已恢复:网点 {branch_id}:{kpi_zh}回到 {value}(该时段通常 {usual_low}-"
            "{usual_high}),自 {since_local} 起共异常 {abnormal_minutes} 分钟。"
        },
    },
    pack_version=OPS_META.pack_version,
)


def _poisson_cdf(count: float, mean: float) -> float:
    """P(X <= count) for X ~ Poisson(mean)."""
    term = total = math.exp(-mean)
    for k in range(1, int(count) + 1):
        term *= mean / k
        total += term
    return total


def _new_detector(kpi: str) -> SeriesDetector:
    # The calendar baseline carries the seasonality; the detector sees the residual only.
    # No habituation: a branch's third reversal wave this month is as much news as its first.
    surprise = VOLUME_SURPRISE if kpi == "vol" else ALARM_SURPRISE
    return SeriesDetector(
        warmup=WARMUP, alarm_surprise=surprise, seasonality=False, habituation=False
    )


def _saved(value: dict[str, Any], detectors: Mapping[str, SeriesDetector]) -> dict[str, Any]:
    value["d"] = {kpi: det.to_state() for kpi, det in sorted(detectors.items())}
    return value


def _slot(
    base: Mapping[str, Mapping[str, list[float]]], kpi: str, slot: str
) -> tuple[float, float, float]:
    found = base.get(kpi, {}).get(slot)
    if found is None:
        return 0.0, 0.0, 0.0
    return float(found[0]), float(found[1]), float(found[2])


def _learn(base: dict[str, dict[str, list[float]]], kpi: str, slot: str, x: float) -> None:
    """Running mean and variance of one slot; remembers about the last 20 buckets."""
    table = dict(base.get(kpi) or {})
    seen, mean, var = _slot(base, kpi, slot)
    seen += 1
    alpha = max(1.0 / seen, 0.05)
    delta = x - mean
    mean += alpha * delta
    var = (1 - alpha) * (var + alpha * delta * delta)
    table[slot] = [seen, mean, var]
    base[kpi] = table
