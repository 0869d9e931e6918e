"""Safe hot reload of rule packs in the worker.

The worker watches its rule folder with ``watchfiles``, and with approval on it also looks at the
pack approval log (in the alert store's database) every few seconds while a changed pack waits
for its approval. On a change, the candidate pack must pass every check before it runs:

1. it loads (every error is reported, see :mod:`monitor.rules.loader`);
2. every rule's examples and the folder's rule test files pass;
3. with approval required, a second person approved its hash (:mod:`alerts.pack_history`);
4. it runs on the stages the worker already has, and no rule id changes kind (its state would
   not fit); both need a restart instead.

A refused pack changes nothing: the running pack keeps going, and the refusal is counted
(``riskmon_rule_reloads_total{outcome="refused"}``), logged, and alerted on by the
``RiskmonRulePackRefused`` SRE rule. An accepted pack is swapped in whole by :class:`LiveRules`;
each stage agent picks it up between two batches (:class:`StageSwap`), so every alert comes from
exactly one pack and carries its version and hash.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter
from sqlalchemy.exc import SQLAlchemyError

from alerts.pack_history import PackHistory
from monitor.alerts import SHADOW_TAG
from monitor.engine import KeyedStage, Stage
from monitor.errors import RulePackError
from monitor.metrics import RiskmonMetrics
from monitor.render import AlertRenderer
from monitor.rule_examples import run_examples
from monitor.rule_tests import rule_test_files, run_test_file
from monitor.rules.loader import load_rules, rule_files, shipped_pack_texts
from monitor.rules.ruleset import RuleSet

log = logging.getLogger("riskmon.reload")

__all__ = ["LiveRules", "ReloadMetrics", "RuleReloader", "StageSwap", "check_candidate"]


class LiveRules:
    """The rule set the worker runs, replaced whole; ``current`` is ``(generation, ruleset)``."""

    def __init__(self, ruleset: RuleSet) -> None:
        self._state = (0, ruleset)
        self._lock = threading.Lock()

    @property
    def current(self) -> tuple[int, RuleSet]:
        return self._state

    def swap(self, ruleset: RuleSet) -> int:
        with self._lock:
            generation = self._state[0] + 1
            self._state = (generation, ruleset)  # one assignment: readers see old or new
        return generation


def restage(stage: KeyedStage, ruleset: RuleSet) -> KeyedStage:
    """The same stage running ``ruleset``'s rules; a model stage is returned unchanged."""
    if isinstance(stage, Stage):
        return Stage(stage.name, ruleset.by_entity(stage.name))
    return stage


class StageSwap:
    """The swap point of one agent: at the start of a batch, take the newest rule set."""

    def __init__(self, live: LiveRules, renderer: AlertRenderer) -> None:
        self.live = live
        self.renderer = renderer
        self.generation = live.current[0]

    def refresh_stages(self, stages: list[KeyedStage]) -> None:
        """For the decoder: route with the newest rules (the list is replaced in place)."""
        generation, current = self.live.current
        if generation != self.generation:
            stages[:] = [restage(stage, current) for stage in stages]
            self.generation = generation

    def refresh(self, runner: object) -> AlertRenderer:
        """For a stage agent: swap ``runner.stage`` and the renderer; returns the renderer."""
        generation, current = self.live.current
        if generation != self.generation:
            stage = getattr(runner, "stage")  # noqa: B009  # any runner holding a stage
            setattr(runner, "stage", restage(stage, current))  # noqa: B010
            self.renderer = AlertRenderer(
                current.pack_hash, self.renderer.language, self.renderer.mask
            )
            self.generation = generation
        return self.renderer


class ReloadRefused(Exception):
    """A candidate pack failed a check; the message says which and why, in one line."""


class NotApproved(ReloadRefused):
    """A candidate pack passed every check but has no approval yet."""

    def __init__(self, message: str, candidate: RuleSet) -> None:
        super().__init__(message)
        self.candidate = candidate


class ReloadMetrics:
    """``riskmon_rule_reloads_total{outcome}``; with the worker's catalogue, the pack it runs is
    recorded in ``riskmon_rule_pack_info`` (which ``RiskmonRulePackChanged`` watches)."""

    def __init__(
        self, registry: CollectorRegistry, catalogue: RiskmonMetrics | None = None
    ) -> None:
        self.catalogue = catalogue
        self.reloads = Counter(
            "riskmon_rule_reloads",
            "Rule pack reload attempts by outcome (applied, refused).",
            ["outcome"],
            registry=registry,
        )
        for outcome in ("applied", "refused"):
            self.reloads.labels(outcome)

    def running(self, ruleset: RuleSet) -> None:
        if self.catalogue is not None:
            rules = [(rule.id, rule.meta.category) for rule in ruleset.rules]
            self.catalogue.set_rule_pack(ruleset.version, ruleset.pack_hash, rules)
            self.catalogue.set_rule_modes(
                (rule.id, rule.meta.category, "shadow" if SHADOW_TAG in rule.meta.tags else "live")
                for rule in ruleset.rules
            )


def check_candidate(
    paths: Sequence[Path],
    running: RuleSet,
    *,
    history: PackHistory | None = None,
) -> RuleSet:
    """The candidate rule set from ``paths`` (on the shipped packs), or :class:`ReloadRefused`."""
    try:
        candidate = load_rules(list(paths))
    except RulePackError as exc:
        line = str(exc).splitlines()[0]
        raise ReloadRefused(f"invalid pack: {line}") from None
    failed = [r for r in run_examples(candidate) if not r.passed]
    if failed:
        first = failed[0]
        raise ReloadRefused(
            f"{len(failed)} example(s) fail, first {first.where}: {first.rule_id}: {first.detail}"
        )
    texts = shipped_pack_texts() + rule_files(list(paths))
    for path in rule_test_files(list(paths)):
        bad = [r for r in run_test_file(path, texts, candidate) if not r.passed]
        if bad:
            raise ReloadRefused(f"rule test fails at {bad[0].where}: {bad[0].name}")
    if history is not None:
        try:
            approved = history.is_approved(candidate.pack_hash)
        except SQLAlchemyError as exc:
            raise ReloadRefused(f"approval log unreadable: {exc}") from None
        if not approved:
            raise NotApproved(
                f"pack {candidate.pack_hash} ({candidate.version}) is not approved by a second "
                "person",
                candidate,
            )
    entities = {rule.meta.entity for rule in running.rules}
    new_entities = {rule.meta.entity for rule in candidate.rules} - entities
    if new_entities:
        raise ReloadRefused(
            f"the pack needs stage(s) {', '.join(sorted(new_entities))} the worker does not run; "
            "restart the worker to take it"
        )
    for rule_id, spec in candidate.specs.items():
        before = running.specs.get(rule_id)
        if before is not None and before.kind != spec.kind:
            raise ReloadRefused(
                f"rule {rule_id!r} changes kind ({before.kind} -> {spec.kind}); restart to take it"
            )
    return candidate


@dataclass(frozen=True)
class ReloadOutcome:
    applied: bool
    detail: str


class RuleReloader:
    """Checks the rule folder on every change and swaps an accepted pack into ``live``."""

    def __init__(
        self,
        paths: Sequence[Path],
        live: LiveRules,
        *,
        registry: CollectorRegistry | None = None,
        catalogue: RiskmonMetrics | None = None,
        history: PackHistory | None = None,
        on_outcome: Callable[[ReloadOutcome], None] | None = None,
        poll_seconds: float = 2.0,
    ) -> None:
        self.paths = list(paths)
        self.live = live
        self.history = history
        self.on_outcome = on_outcome
        registry = registry if registry is not None or catalogue is None else catalogue.registry
        self.registry = registry
        self.metrics = ReloadMetrics(registry, catalogue) if registry is not None else None
        self._last_refused: str | None = None
        self._awaiting: str | None = None  # hash of a checked pack that waits for its approval
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check_now(self) -> ReloadOutcome | None:
        """Check the folder once. ``None`` when it holds the pack already running (or the same
        refused pack as last time: a refusal is counted once)."""
        running = self.live.current[1]
        try:
            candidate = check_candidate(self.paths, running, history=self.history)
        except ReloadRefused as exc:
            self._awaiting = exc.candidate.pack_hash if isinstance(exc, NotApproved) else None
            detail = str(exc)
            if detail == self._last_refused:
                return None
            self._last_refused = detail
            log.error(
                "rule pack refused, keeping %s (%s): %s", running.version, running.pack_hash, detail
            )
            return self._report(ReloadOutcome(False, detail))
        self._last_refused = None
        self._awaiting = None
        if candidate.pack_hash == running.pack_hash:
            return None
        generation = self.live.swap(candidate)
        detail = (
            f"rule pack {candidate.version} ({candidate.pack_hash}) replaces {running.version} "
            f"({running.pack_hash}), generation {generation}"
        )
        log.warning("%s", detail)
        if self.metrics is not None:
            self.metrics.running(candidate)
        return self._report(ReloadOutcome(True, detail))

    def _report(self, outcome: ReloadOutcome) -> ReloadOutcome:
        if self.metrics is not None:
            self.metrics.reloads.labels("applied" if outcome.applied else "refused").inc()
        if self.on_outcome is not None:
            self.on_outcome(outcome)
        return outcome

    def approval_arrived(self) -> bool:
        """Whether the pack waiting for approval (if any) has been approved since."""
        if self._awaiting is None or self.history is None:
            return False
        try:
            return self.history.is_approved(self._awaiting)
        except SQLAlchemyError:
            log.exception("pack approval log unreadable")
            return False

    def watched(self) -> list[Path]:
        out = [p if p.is_dir() else p.parent for p in self.paths]
        return list(dict.fromkeys(p.resolve() for p in out if p.exists()))

    def start(self) -> None:
        """Watch in a daemon thread until :meth:`stop`."""
        from watchfiles import watch

        def relevant(_change: object, path: str) -> bool:
            return path.endswith((".yaml", ".yml"))

        def loop() -> None:
            watching = watch(
                *self.watched(),
                watch_filter=relevant,
                stop_event=self._stop,
                recursive=True,
                rust_timeout=int(self.poll_seconds * 1000),
                yield_on_timeout=True,  # an empty set: look at the approval log
            )
            for changes in watching:
                if not changes and not self.approval_arrived():
                    continue
                try:
                    self.check_now()
                except Exception:  # a reload must never take the worker down
                    log.exception("rule pack check failed")

        self._thread = threading.Thread(target=loop, name="riskmon-rule-reload", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
