"""One alarm per incident: an incident layer over :class:`SeriesDetector` scores.

A pager must not fire again and again for one incident. :class:`IncidentTracker` reads the
detector's score row by row and keeps at most one incident open, like Alertmanager's firing and
resolved states:

- *onset*: the score reaches ``open_at`` while no incident is open. The usual value and
  deviation that the detector expected on that row (the baseline before the change) are kept.
- *open*: later rows belong to the same incident. Repeated spikes, a slow recovery, or the
  detector re-alarming as it learns the new level raise nothing new.
- *resolved*: the incident closes on the first row that completes ``recover_rows`` consecutive
  calm rows, a calm row being one whose score is below ``calm_below`` and whose value is back
  within ``band`` deviations of the baseline. If the KPI settles at a new level instead (the
  detector has adopted it and stays calm for ``settle_rows`` rows), the incident also resolves:
  the change is the new normal, and paging about it every hour would only teach people to
  ignore the pager.
- *flapping*: a new onset within ``2 * recover_rows`` rows of a resolution reopens the resolved
  incident instead of raising a new alarm (the after-effects of one incident are not another).

The only alarm is the onset row: :meth:`IncidentTracker.update` returns the detector's score there
and 0 on every other row, so a threshold on it counts incidents, not rows. It stays strictly
online (row t depends on rows up to t only) and deterministic; the state is plain JSON.

>>> from datetime import datetime, timedelta
>>> tracker = IncidentTracker()
>>> t0 = datetime(2024, 3, 4)
>>> rows = [10.0 + (i % 7) / 10 for i in range(600)]
>>> rows[300:305] = [25.0] * 5
>>> steps = [tracker.step(v, t0 + timedelta(minutes=i)) for i, v in enumerate(rows)]
>>> [(i, s.state) for i, s in enumerate(steps) if s.state in ("onset", "resolved")]
[(300, 'onset'), (383, 'resolved')]
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from monitor.models.series.detector import SeriesDetector, _finite
from monitor.models.series.state import SeriesStateError, as_float, as_int

__all__ = ["Incident", "IncidentState", "IncidentTracker", "Step"]

IncidentState = Literal["quiet", "onset", "open", "resolved"]
STATE_VERSION = 1


@dataclass(slots=True)
class Incident:
    """The open incident: when it began (row and score) and the baseline before it."""

    start_row: int
    peak: float
    baseline: float | None  # the value the detector expected at onset
    scale: float | None  # its usual deviation at onset
    calm: int = 0  # consecutive calm rows so far
    settled: int = 0  # consecutive rows with a calm score, whatever the value


@dataclass(frozen=True, slots=True)
class Step:
    """One row's verdict: the detector's score, the incident state after the row, the alarm
    (the score on the onset row, else 0) and the incident (open, or just resolved)."""

    score: float
    state: IncidentState
    alarm: float
    incident: Incident | None


class IncidentTracker:
    """Scores rows with a :class:`SeriesDetector` and groups alarms into incidents.

    Parameters
    ----------
    detector
        The detector to read (a new default one if omitted).
    open_at
        Score at which an incident opens (the detector's documented alarm level is 0.5).
    calm_below
        A row is calm when its score is below this and its value is back within ``band``.
    band
        Deviations (the detector's scale at onset) around the baseline that count as recovered.
    recover_rows
        Consecutive calm rows that resolve an incident.
    settle_rows
        Consecutive rows with a calm score that resolve an incident even off the old baseline
        (the new level has become the normal).
    """

    def __init__(
        self,
        detector: SeriesDetector | None = None,
        *,
        open_at: float = 0.5,
        calm_below: float = 0.2,
        band: float = 4.0,
        recover_rows: int = 30,
        settle_rows: int = 360,
    ) -> None:
        if not 0.0 < open_at <= 1.0 or not 0.0 <= calm_below <= open_at:
            raise ValueError("need 0 <= calm_below <= open_at <= 1 and open_at > 0")
        if recover_rows < 1 or settle_rows < recover_rows or band <= 0.0:
            raise ValueError("need band > 0 and 1 <= recover_rows <= settle_rows")
        self.detector = detector if detector is not None else SeriesDetector()
        self.open_at = open_at
        self.calm_below = calm_below
        self.band = band
        self.recover_rows = recover_rows
        self.settle_rows = settle_rows
        self.row = 0
        self.incident: Incident | None = None
        self.incidents = 0  # incidents opened so far
        self.last: Incident | None = None  # the last resolved incident
        self.resolved_row = -(10**9)

    def update(self, value: float | None, timestamp: datetime | None = None) -> float:
        """The alarm of this row: the detector's score at an incident's onset, else 0."""
        return self.step(value, timestamp).alarm

    def step(self, value: float | None, timestamp: datetime | None = None) -> Step:
        """Score ``value``, learn it, and move the incident on by one row."""
        det = self.detector
        det.score_one(value, timestamp)
        score = det.severity()  # the state machine follows how abnormal rows are, not news
        evidence = det.explain() if score >= self.open_at else {}
        det.learn_one(value, timestamp)
        self.row += 1
        x = _finite(value)
        incident = self.incident
        if incident is None:
            if score >= self.open_at and self.row - self.resolved_row <= 2 * self.recover_rows:
                self.incident = incident = self.last
                if incident is not None:
                    incident.calm = incident.settled = 0
                    incident.peak = max(incident.peak, score)
                    return Step(score, "open", 0.0, incident)
            if score >= self.open_at:
                self.incident = incident = Incident(
                    self.row, score, evidence.get("expected"), evidence.get("scale")
                )
                self.incidents += 1
                return Step(score, "onset", score, incident)
            return Step(score, "quiet", 0.0, None)
        incident.peak = max(incident.peak, score)
        quiet = score < self.calm_below
        incident.settled = incident.settled + 1 if quiet else 0
        back = quiet and x is not None and self._within(incident, x)
        incident.calm = incident.calm + 1 if back else 0
        if incident.calm >= self.recover_rows or incident.settled >= self.settle_rows:
            self.incident = None
            self.last, self.resolved_row = incident, self.row
            return Step(score, "resolved", 0.0, incident)
        return Step(score, "open", 0.0, incident)

    def _within(self, incident: Incident, x: float) -> bool:
        if incident.baseline is None or incident.scale is None:
            return True
        return abs(x - incident.baseline) <= self.band * max(incident.scale, 1e-9)

    # ------------------------------------------------------------------ snapshots

    def to_state(self) -> dict[str, object]:
        """A JSON-serialisable snapshot (the detector's own snapshot included)."""
        inc, last = self.incident, self.last
        return {
            "version": STATE_VERSION,
            "kind": "IncidentTracker",
            "config": [
                self.open_at,
                self.calm_below,
                self.band,
                self.recover_rows,
                self.settle_rows,
            ],
            "row": self.row,
            "incidents": self.incidents,
            "incident": None
            if inc is None
            else [inc.start_row, inc.peak, inc.baseline, inc.scale, inc.calm, inc.settled],
            "last": None
            if last is None
            else [last.start_row, last.peak, last.baseline, last.scale, last.calm, last.settled],
            "resolved_row": self.resolved_row,
            "detector": self.detector.to_state(),
        }

    @classmethod
    def from_state(cls, state: dict[str, object]) -> IncidentTracker:
        """Rebuild a tracker from ``to_state`` output; raises ``SeriesStateError`` if foreign."""
        if state.get("kind") != "IncidentTracker" or state.get("version") != STATE_VERSION:
            raise SeriesStateError("not an IncidentTracker snapshot of this version")
        config, det, inc = state.get("config"), state.get("detector"), state.get("incident")
        if not isinstance(config, list) or len(config) != 5 or not isinstance(det, dict):
            raise SeriesStateError("IncidentTracker snapshot has no config or detector")
        tracker = cls(
            SeriesDetector.from_state(det),
            open_at=as_float(config[0]),
            calm_below=as_float(config[1]),
            band=as_float(config[2]),
            recover_rows=as_int(config[3]),
            settle_rows=as_int(config[4]),
        )
        tracker.row = as_int(state.get("row"))
        tracker.incidents = as_int(state.get("incidents"))
        tracker.resolved_row = as_int(state.get("resolved_row"))
        tracker.incident = _incident(inc)
        tracker.last = _incident(state.get("last"))
        return tracker


def _incident(raw: object) -> Incident | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or len(raw) != 6:
        raise SeriesStateError("IncidentTracker snapshot has a malformed incident")
    return Incident(
        as_int(raw[0]),
        as_float(raw[1]),
        None if raw[2] is None else as_float(raw[2]),
        None if raw[3] is None else as_float(raw[3]),
        as_int(raw[4]),
        as_int(raw[5]),
    )
