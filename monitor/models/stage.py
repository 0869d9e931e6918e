"""The engine's keyed stage for anomaly models, one per entity kind.

Conventions
-----------
- Per-entity profiles live under the entity's key in the stage's state mapping and are written
  back on every event (``state[key] = new``), never mutated in place.
- The partition's model (population statistics, scorer, calibrator) is kept live in memory and
  snapshotted into the same mapping under ``partition_key(partition, "model")`` every
  ``snapshot_every`` scored events, with a version header. A stage restored from a snapshot
  scores the next event exactly as the uninterrupted stage would.
- Score first, then learn; an event whose score reaches the threshold is not learned.
- Protected learning goes further than the threshold: an event whose raw score reaches the
  partition's reference level (the 99th percentile of recent scores) is *held* in its entity's
  profile instead of learned, and learned only once ``hold_seconds`` of event time have passed
  without an alert on the entity (an alert drops what is held). A taken-over account's second
  transfer to a new country is then as novel as its first, and their evidence adds up; a
  customer's genuinely new habit is learned a day later.
- Idle entities are compacted, then forgotten, on event-time deadlines: every profile carries
  ``due``, the event time of its next idle check (set once, ``idle_seconds`` after its first
  event, so an active entity's deadline does not move on every event). When the watermark
  passes it, an entity quiet for ``idle_seconds`` is compacted (``EntityKind.compact``) and
  due again at ``forget_seconds`` after its last event, when its profile is deleted; an active
  one is due again ``idle_seconds`` after its last event. An event of a compacted entity makes
  it active again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from monitor.events import Event, Transaction, decode_event, encode_event, event_epoch
from monitor.findings import Finding
from monitor.models.config import ModelConfig
from monitor.models.evidence import accumulate, remember
from monitor.models.explain import explain_features, hour_span, top_features
from monitor.models.kinds import AccountKind, EntityKind, OperatorKind
from monitor.models.meta import MODEL_META, REASONS
from monitor.models.quantile import Calibrator, TailQuantile
from monitor.models.scorers import build_scorer, load_scorer
from monitor.models.state import ExplainingScorer, ModelStateError, Scorer, check_state
from monitor.stage import StateMap, partition_key, partition_of_key

if TYPE_CHECKING:
    from monitor.models.artifact import Artifact

__all__ = ["ModelStage", "PartitionModel", "model_key"]

MAX_HELD = 4
"""Held events kept per entity; the oldest is dropped (never learned) beyond it."""
LEVELS_EVERY = 64
REFERENCE_KEEP = 320  # the 97th percentile of 1 to 2 epochs of 5,000 scores is the 300th largest
INF = float("inf")


def model_key(partition: int) -> str:
    """Where a partition's model snapshot lives (a :func:`monitor.stage.partition_key`)."""
    return partition_key(partition, "model")


class PartitionModel:
    """Everything a partition learns beyond single entities: population, scorer, calibrator."""

    def __init__(self, config: ModelConfig, kind: EntityKind) -> None:
        self.population: Any = kind.new_population()
        self.scorer: Scorer = build_scorer(config, kind.features)
        self.calibrator = Calibrator(
            alerts_per_10k=config.alerts_per_10k,
            alerts_per_day=config.alerts_per_day,
            warmup=config.warmup,
            warmup_days=config.warmup_days,
        )
        self.reference = TailQuantile(keep=REFERENCE_KEEP, epoch=5_000)
        self.scored = 0
        self._levels: tuple[float, float] | None = None

    def reference_level(self, rate: float) -> float:
        """The (1 - rate) quantile of recent raw scores (``inf`` before 1,000 are known)."""
        return self.reference.quantile(rate) if self.reference.count >= 1_000 else INF

    def levels(self, carry_rate: float) -> tuple[float, float]:
        """The hold level (99th percentile) and the evidence carry level (``1 - carry_rate``).

        Re-read from the score reservoir every :data:`LEVELS_EVERY` scored events: reading it
        sorts the reservoir, and the levels move slowly.
        """
        if self._levels is None or self.scored % LEVELS_EVERY == 0:
            self._levels = (self.reference_level(0.01), self.reference_level(carry_rate))
        return self._levels

    def to_state(self) -> dict[str, Any]:
        return {
            "version": 2,
            "kind": "partition_model",
            "population": self.population.to_state(),
            "scorer": self.scorer.to_state(),
            "calibrator": self.calibrator.to_state(),
            "reference": self.reference.to_state(),
            "scored": self.scored,
            "levels": None if self._levels is None else [_finite(v) for v in self._levels],
        }

    @classmethod
    def from_state(
        cls, state: Mapping[str, Any], config: ModelConfig, kind: EntityKind
    ) -> PartitionModel:
        """Restore what was learned; the settings (alert rate, warm-up) come from ``config``.

        A version-1 snapshot (before held learning and rate calibration) is upgraded.
        """
        if state.get("kind") == "partition_model" and state.get("version") == 1:
            state = _upgrade_v1(state, config)
        check_state(state, "partition_model", 2)
        model = cls.__new__(cls)
        model.population = kind.load_population(state["population"])
        model.scorer = load_scorer(state["scorer"])
        model.calibrator = Calibrator.from_state(state["calibrator"])
        model.calibrator.alerts_per_10k = config.alerts_per_10k
        model.calibrator.alerts_per_day = config.alerts_per_day
        model.calibrator.warmup = config.warmup
        model.calibrator.warmup_days = config.warmup_days
        model.reference = TailQuantile.from_state(state["reference"])
        model.scored = int(state["scored"])
        levels = state["levels"]
        model._levels = None if levels is None else (_infinite(levels[0]), _infinite(levels[1]))
        return model


def _upgrade_v1(state: Mapping[str, Any], config: ModelConfig) -> dict[str, Any]:
    """A version-1 partition snapshot in the version-2 shape (levels are re-read on next use)."""
    calibrator = dict(state["calibrator"])
    if calibrator.get("kind") == "calibrator" and calibrator.get("version") == 1:
        calibrator.update(version=2, alerts_per_10k=config.alerts_per_10k)
    reference = dict(state["reference"])
    reference["keep"] = max(int(reference["keep"]), REFERENCE_KEEP)
    return dict(state) | {
        "version": 2,
        "calibrator": calibrator,
        "reference": reference,
        "levels": None,
    }


class ModelStage:
    """Scores one entity kind's events against their profiles; a :class:`monitor.stage.KeyedStage`.

    One stage serves one state mapping (it keeps the live models of that mapping's partitions).
    """

    def __init__(self, config: ModelConfig) -> None:
        self.config = config
        self.kind: EntityKind = (
            AccountKind(config.home_country, config.cny_per_unit)
            if config.entity == "account"
            else OperatorKind()
        )
        self.name = f"model_{config.entity}"
        self.meta = MODEL_META[config.entity]
        self._models: dict[int, PartitionModel] = {}
        self.last_score: float | None = None
        """The score (evidence) of the event just processed, ``None`` if it was not scored."""
        self.last_features: Mapping[str, float] | None = None
        """Its features (for evaluation, plots and offline training)."""
        self.observer: Callable[[str, float, float], None] | None = None
        """Told ``(stage name, score, threshold)`` for every scored event; adapters feed metrics."""

    def key_for(self, event: Event) -> str | None:
        return self.kind.key_for(event)

    def model(self, state: Mapping[str, Any], partition: int = 0) -> PartitionModel:
        found = self._models.get(partition)
        if found is None:
            saved = state.get(model_key(partition))
            found = (
                PartitionModel.from_state(saved, self.config, self.kind)
                if saved is not None
                else PartitionModel(self.config, self.kind)
            )
            self._models[partition] = found
        return found

    def seed_forest(self, artifact: Artifact, partition: int = 0) -> None:
        """Start an IsolationForest scorer from an offline-trained forest of this entity kind."""
        from monitor.models.iforest import IsolationForestScorer  # scikit-learn on demand

        forest = artifact.forests.get(self.config.entity)
        scorer = self.model({}, partition).scorer
        if forest is None or not isinstance(scorer, IsolationForestScorer):
            return
        if artifact.features.get(self.config.entity) != tuple(self.kind.features):
            raise ModelStateError("the artefact was trained on other features")
        scorer.use_forest(forest)

    def snapshot(self, state: StateMap, partition: int | None = None) -> None:
        """Write the live model of ``partition`` (or of every partition) into ``state``."""
        for number, model in self._models.items():
            if partition is None or number == partition:
                state[model_key(number)] = model.to_state()

    def forget(self, partition: int) -> None:
        """Drop the live model of a partition this worker no longer owns (after a rebalance).

        The next event of the partition restores it from the latest snapshot in the state.
        """
        self._models.pop(partition, None)

    def process(self, key: str, event: Event, state: StateMap, partition: int = 0) -> list[Finding]:
        model = self.model(state, partition)
        profile = state.get(key)
        self.last_score = self.last_features = None
        moment = event_epoch(event)
        if profile is not None and profile.get("held"):
            profile = self._release(profile, moment, model)
        if not self.kind.scored(event, profile):
            state[key] = self._touch(
                self.kind.observe(profile, event, model.population, moment), moment
            )
            return []
        x, details = self.kind.features_of(profile, event, model.population, moment)
        raw = model.scorer.score_one(x)
        level, carry = model.levels(self.config.evidence_quantile)  # hold, carry-over
        half_life = self.config.evidence_half_life
        score = accumulate(profile or {}, raw, moment, reference=carry, half_life=half_life)
        self.last_score = score
        self.last_features = x
        threshold = model.calibrator.threshold()
        if self.observer is not None:
            self.observer(self.name, score, threshold)
        model.calibrator.update(score, moment, key)
        model.reference.update(raw)
        new = remember(
            self.kind.observe(profile, event, model.population, moment),
            score,
            moment,
            reference=carry,
        )
        findings: list[Finding] = []
        if score >= threshold:
            if moment >= float(new.get("alerted_until", float("-inf"))):
                found = self._finding(key, event, model.scorer, x, details, (score, threshold))
                findings.append(found)
                new["alerted_until"] = moment + self.config.cooldown_seconds
            new.pop("held", None)  # the session that led here is not learned either
        elif raw >= level:
            new["held"] = [*new.get("held", ()), self._hold(event, x, details, moment)][-MAX_HELD:]
        else:
            new = self.kind.learn(new, event, model.population, details)
            model.scorer.learn_one(x)
        state[key] = self._touch(new, moment)
        model.scored += 1
        if model.scored % self.config.snapshot_every == 0:
            state[model_key(partition)] = model.to_state()
        return findings

    def _hold(
        self, event: Event, x: Mapping[str, float], details: Mapping[str, Any], moment: float
    ) -> dict[str, Any]:
        """What learning a held event later needs, JSON-shaped (profiles are snapshotted)."""
        return {
            "at": moment,
            "event": encode_event(event),
            "x": {name: value for name, value in x.items() if value},
            "details": {name: details[name] for name in self.kind.held_details},
        }

    def _release(
        self, profile: Mapping[str, Any], moment: float, model: PartitionModel
    ) -> Mapping[str, Any]:
        """Learn the held events older than ``hold_seconds`` that no alert followed."""
        due = [h for h in profile["held"] if moment - float(h["at"]) >= self.config.hold_seconds]
        if not due:
            return profile
        new = dict(profile)
        new["held"] = [h for h in profile["held"] if h not in due]
        if not new["held"]:
            del new["held"]
        for held in due:
            event = decode_event(held["event"])
            new = self.kind.learn(new, event, model.population, held["details"])
            model.scorer.learn_one({name: 0.0 for name in self.kind.features} | held["x"])
        return new

    def _finding(
        self,
        key: str,
        event: Event,
        scorer: Scorer,
        x: Mapping[str, float],
        details: Mapping[str, Any],
        levels: tuple[float, float],
    ) -> Finding:
        score, threshold = levels
        if isinstance(scorer, ExplainingScorer):
            names = top_features(scorer.contributions(x), floor=2.0)
        else:
            names = top_features(x)
        why_en, why_zh = explain_features(names, details)
        values: dict[str, Any] = {
            "score": round(score, 4),
            "threshold": round(threshold, 4),
            "top_features": names,
            "why_en": why_en,
            "why_zh": why_zh,
            "event_id": event.event_id,
        }
        values.update({f"feature.{n}": round(x[n], 3) for n in names})
        values.update({f"usual.{k}": _plain(k, v) for k, v in details.items()})
        if isinstance(event, Transaction):
            values.update(amount=event.amount, currency=event.currency, account_id=key)
        return Finding(
            meta=self.meta,
            entity_id=key,
            event_ids=(event.event_id,),
            occurred_at=event.occurred_at,
            values=values,
            branch_id=event.branch_id,
            reason=REASONS.get(names[0], "unusual_activity"),
        )

    def _touch(self, new: dict[str, Any], moment: float) -> dict[str, Any]:
        """Set the idle check of an entity that just had an event (kept if already sooner)."""
        idle = self.config.idle_seconds
        if idle is not None:
            due = new.get("due")
            if due is None or float(due) > moment + idle:
                new["due"] = moment + idle
        return new

    def expire(self, key: str, watermark: float, state: StateMap) -> list[Finding]:
        """The idle check of ``key``: compact or forget its profile if it has been quiet long
        enough (event time), else check again ``idle_seconds`` after its last event."""
        idle, forget = self.config.idle_seconds, self.config.forget_seconds
        profile = state.get(key)
        if idle is None or not profile or partition_of_key(key) is not None:
            return []
        last = self.kind.last_seen(profile)
        quiet = watermark - (watermark if last is None else last)
        if forget is not None and quiet >= forget:
            del state[key]
        elif quiet >= idle:
            new = self.kind.compact(profile)
            new["due"] = None if forget is None or last is None else last + forget
            state[key] = new
        elif last is not None:
            state[key] = dict(profile) | {"due": last + idle}
        else:
            state[key] = dict(profile) | {"due": watermark + idle}
        return []

    def next_deadline(self, value: Any) -> float | None:
        """A profile's idle check (``None`` for the partition's model and without a horizon)."""
        if self.config.idle_seconds is None or not isinstance(value, Mapping):
            return None
        if "due" in value:
            due = value["due"]
            return None if due is None else float(due)
        if value.get("kind") == "partition_model":
            return None
        last = self.kind.last_seen(value)  # a profile saved before idle checks existed
        return None if last is None else last + self.config.idle_seconds


def _finite(value: float) -> float | None:
    """JSON has no infinity: an unknown level is stored as ``None``."""
    return None if value == INF else value


def _infinite(value: float | None) -> float:
    return INF if value is None else float(value)


def _plain(key: str, value: Any) -> Any:
    if key == "usual_hours":
        return hour_span(value)
    if key == "usual_channels":
        return ", ".join(sorted(value))
    if isinstance(value, float):
        return round(value, 2)
    return value
