"""The model stage: warm-up, protected learning, explanations, snapshots, engine wiring."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from monitor.engine import Engine, partition_key
from monitor.findings import Finding
from monitor.models import ModelConfig, ModelsConfig, ModelStage, default_model_stages, model_key
from monitor.render import AlertRenderer
from monitor.rules.loader import load_rules
from tests.models.modelkit import WEEK, debit, routine, simulated, takeover

SMALL = ModelConfig(entity="account", warmup=300, warmup_days=3.0, alerts_per_day=1.0)


def feed(stage: ModelStage, events: list[Any], state: dict[str, Any]) -> list[Finding]:
    found: list[Finding] = []
    for event in events:
        key = stage.key_for(event)
        if key is not None:
            found.extend(stage.process(key, event, state))
    return found


def test_no_model_alert_during_warm_up() -> None:
    stage, state = ModelStage(SMALL), {}
    events = routine(days=12)
    early = [e for e in events if e.occurred_at.day < 4]  # under three days of history
    assert feed(stage, [*early, takeover(10**6, "A0001", 1)], state) == []
    assert not stage.model(state).calibrator.warm


def test_a_takeover_alerts_and_explains_itself_in_both_languages() -> None:
    stage, state = ModelStage(SMALL), {}
    feed(stage, routine(days=12), state)
    found = feed(stage, [takeover(10**6, "A0001", 12)], state)
    assert len(found) == 1
    finding = found[0]
    assert finding.meta.category == "model_anomaly"
    assert finding.meta.pack_version == "riskmon-models@1.0.0"
    assert finding.reason
    values = finding.values
    assert "amount 48,000 CNY is 203x this account's usual 90th percentile" in values["why_en"]
    assert "03:40 outside this account's usual hours (10-19)" in values["why_en"]
    assert "48,000 元" in values["why_zh"]
    assert "不在该账户通常的活动时段（10-19）内" in values["why_zh"]
    assert len(values["top_features"]) >= 2
    for language in ("en", "zh-CN"):
        alert = AlertRenderer("hash", language).render(finding)
        assert alert.category == "model_anomaly" and "?" not in alert.message
        assert alert.explanation["why_en"] == values["why_en"]
    assert AlertRenderer("h", "zh-CN").render(finding).message.startswith("账户活动异常")


def test_flagged_events_are_not_learned() -> None:
    stage, state = ModelStage(SMALL), {}
    feed(stage, routine(days=12), state)
    model = stage.model(state)
    before_profile = copy.deepcopy(state["A0001"])
    before_scorer = model.scorer.to_state()
    before_population = model.population.to_state()
    assert feed(stage, [takeover(10**6, "A0001", 12)], state)
    after = state["A0001"]
    assert after["n"] == before_profile["n"]
    assert after["amt"] == before_profile["amt"] and after["cps"] == before_profile["cps"]
    assert model.scorer.to_state() == before_scorer
    assert model.population.to_state() == before_population
    # an ordinary debit is learned
    assert feed(stage, [routine(days=13)[-100]], state) == []
    assert model.scorer.to_state() != before_scorer


def test_unusual_events_below_the_threshold_are_held_then_learned_a_day_later() -> None:
    quiet = SMALL.model_copy(update={"warmup": 10**9})  # never warm: nothing alerts
    stage, state = ModelStage(quiet), {}
    feed(stage, routine(days=12), state)
    known = copy.deepcopy(state["A0001"])
    odd = [
        debit(900_001, "A0001", 12, 14, "6000.00", counterparty="6222999999990001"),
        debit(900_002, "A0001", 12, 15, "6500.00", counterparty="6222999999990001"),
    ]
    assert feed(stage, odd[:1], state) == []
    held = state["A0001"]["held"]
    assert len(held) == 1 and state["A0001"]["n"] == known["n"]
    assert state["A0001"]["cps"] == known["cps"]  # the new payee is not learned yet
    feed(stage, odd[1:], state)
    assert stage.last_features is not None and stage.last_features["new_counterparty"] == 1.0
    assert len(state["A0001"]["held"]) == 2  # still novel: the first was not learned
    later = debit(900_003, "A0001", 13, 16, "150.00", counterparty="6222000000000001")
    feed(stage, [later], state)  # more than hold_seconds after both
    assert "held" not in state["A0001"]
    assert state["A0001"]["n"] >= known["n"] + 2
    assert len(set(state["A0001"]["cps"]) - set(known["cps"])) == 1


def test_an_alert_drops_what_its_entity_held() -> None:
    stage, state = ModelStage(SMALL.model_copy(update={"warmup": 10**9})), {}
    feed(stage, routine(days=12), state)
    odd = debit(900_001, "A0001", 12, 14, "6000.00", counterparty="6222999999990001")
    assert feed(stage, [odd], state) == []
    assert state["A0001"].get("held")
    stage.model(state).calibrator.warmup = SMALL.warmup  # warm from now on: alerts may fire
    assert feed(stage, [takeover(10**6, "A0001", 12)], state)
    assert "held" not in state["A0001"]
    feed(stage, [debit(900_003, "A0001", 14, 16, "150.00")], state)
    assert "6222999999990001" not in json.dumps(state["A0001"])


def test_profiles_are_replaced_not_mutated() -> None:
    stage, state = ModelStage(SMALL), {}
    events = routine(days=2)
    feed(stage, events[:-100], state)
    old = state["A0099"]
    frozen = copy.deepcopy(old)
    feed(stage, events[-100:], state)
    assert state["A0099"] is not old and old == frozen


@pytest.mark.parametrize("scorer", ["tails", "hst", "iforest", "river_hst"])
def test_restored_stage_scores_exactly_like_the_uninterrupted_one(scorer: str) -> None:
    events, _ = simulated(WEEK)
    config = ModelConfig(
        entity="account",
        scorer=scorer,  # type: ignore[arg-type]  # a parametrised literal
        warmup=500,
        warmup_days=1.0,
        snapshot_every=400,
        refit_every=700,
        window_size=300,
    )
    stage, state = ModelStage(config), {}
    cut = None
    for index, event in enumerate(events):
        key = stage.key_for(event)
        if key is None:
            continue
        stage.process(key, event, state)
        scored = stage.model(state).scored
        if stage.last_score is not None and scored % 400 == 0 and index > len(events) // 3:
            cut = index + 1
            break
    assert cut is not None
    restored_state = json.loads(json.dumps(state))  # what a changelog-backed table holds
    restored = ModelStage(config)
    for event in events[cut:]:
        key = stage.key_for(event)
        if key is None:
            continue
        assert restored.process(key, event, restored_state) == stage.process(key, event, state)
        assert restored.last_score == stage.last_score
    stage.snapshot(state)
    restored.snapshot(restored_state)
    assert restored_state == json.loads(json.dumps(state))


def test_a_restored_model_takes_its_settings_from_the_config() -> None:
    stage, state = ModelStage(SMALL), {}
    feed(stage, routine(days=4), state)
    stage.snapshot(state)
    saved = json.loads(json.dumps(state))
    changed = SMALL.model_copy(update={"alerts_per_day": None, "alerts_per_10k": 7.0})
    restored = ModelStage(changed).model(saved)
    assert restored.calibrator.alerts_per_day is None
    assert restored.calibrator.alerts_per_10k == 7.0
    assert restored.calibrator.seen == stage.model(state).calibrator.seen  # what was learned


def test_a_version_1_snapshot_is_upgraded_and_keeps_what_it_learned() -> None:
    stage, state = ModelStage(SMALL), {}
    events = routine(days=6)
    feed(stage, events[:400], state)
    stage.snapshot(state)
    old = json.loads(json.dumps(state))
    snapshot = old[model_key(0)]
    snapshot.update(version=1)
    del snapshot["levels"]
    snapshot["calibrator"].update(version=1)
    del snapshot["calibrator"]["alerts_per_10k"]
    snapshot["reference"]["keep"] = 128
    upgraded = ModelStage(SMALL)
    model = upgraded.model(old)
    assert model.calibrator.seen == stage.model(state).calibrator.seen
    assert model.scorer.to_state() == stage.model(state).scorer.to_state()
    assert model.reference.keep == 320
    feed(upgraded, events[400:], old)  # scores on without error
    assert upgraded.model(old).scored == stage.model(state).scored + len(events[400:])


def test_model_state_key_is_the_engines_partition_key() -> None:
    assert model_key(3) == partition_key(3, "model")


def test_models_off_leaves_the_rules_unchanged_and_on_adds_only_model_alerts() -> None:
    events, _ = simulated(WEEK)
    ruleset = load_rules([])
    assert default_model_stages(ModelsConfig()) == []
    plain = Engine(ruleset, extra_stages=default_model_stages(ModelsConfig()))
    quick = tuple(
        ModelConfig(entity=s.entity, warmup=300, warmup_days=1.0) for s in ModelsConfig().stages
    )
    wired = Engine(
        ruleset, extra_stages=default_model_stages(ModelsConfig(enabled=True, stages=quick))
    )
    before = [a for e in events for a in plain.process(e)] + plain.flush()
    after = [a for e in events for a in wired.process(e)] + wired.flush()
    assert [a for a in after if a.category != "model_anomaly"] == before
    assert any(a.category == "model_anomaly" for a in after)
