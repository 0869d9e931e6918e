"""Hot reload checks without a broker: what is accepted, what is refused, and the swap point."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import CollectorRegistry

from alerts.pack_history import PackHistory
from alerts.store import AlertStore
from monitor.engine import Stage
from monitor.render import AlertRenderer
from monitor.rules.loader import load_rules
from streams.reload import LiveRules, RuleReloader, StageSwap

AT = datetime(2026, 3, 3, tzinfo=UTC)
V1 = "- pack: bank-tuning\n  version: 1.0.0\n- override: large_cash_single\n  tags: [v1]\n"
V2 = V1.replace("1.0.0", "1.1.0").replace("[v1]", "[v2]")


def reloader(tmp_path: Path, history: PackHistory | None = None) -> tuple[RuleReloader, Path]:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "tuning.yaml").write_text(V1, encoding="utf-8")
    live = LiveRules(load_rules([folder]))
    registry = CollectorRegistry()
    return RuleReloader([folder], live, registry=registry, history=history), folder


def sample(reload: RuleReloader, outcome: str) -> float | None:
    assert reload.registry is not None
    return reload.registry.get_sample_value("riskmon_rule_reloads_total", {"outcome": outcome})


def test_a_valid_change_is_swapped_in_and_an_invalid_one_refused(tmp_path: Path) -> None:
    reload, folder = reloader(tmp_path)
    assert reload.check_now() is None  # nothing changed
    (folder / "tuning.yaml").write_text(V2, encoding="utf-8")
    outcome = reload.check_now()
    assert outcome is not None and outcome.applied
    generation, running = reload.live.current
    assert generation == 1 and "bank-tuning@1.1.0" in running.version
    (folder / "tuning.yaml").write_text(V2.replace("tags:", "tagz:"), encoding="utf-8")
    outcome = reload.check_now()
    assert outcome is not None and not outcome.applied
    assert "invalid pack" in outcome.detail and "did you mean 'tags'" in outcome.detail
    assert reload.live.current == (1, running)  # the old pack keeps running
    assert reload.check_now() is None  # the same refusal is counted once
    assert (sample(reload, "applied"), sample(reload, "refused")) == (1, 1)


def test_failing_examples_and_new_stages_and_kind_changes_are_refused(tmp_path: Path) -> None:
    reload, folder = reloader(tmp_path)
    (folder / "tuning.yaml").write_text(
        V2 + "  threshold: {CNY: 70000, USD: 10000}\n", encoding="utf-8"
    )
    outcome = reload.check_now()
    assert outcome is not None and not outcome.applied
    assert "example(s) fail" in outcome.detail and "10_large_transfers.yaml:30" in outcome.detail
    (folder / "tuning.yaml").write_text(
        V2 + "- override: dual_review\n  enabled: true\n", encoding="utf-8"
    )
    assert reload.check_now() is not None  # applied
    running = reload.live.current[1]
    only_tx = LiveRules(
        running.subset([r.id for r in running.rules if r.meta.entity != "operator"])
    )
    narrow = RuleReloader([folder], only_tx)
    (folder / "tuning.yaml").write_text(V1, encoding="utf-8")
    outcome = narrow.check_now()
    assert outcome is not None and "does not run" in outcome.detail


def test_an_unapproved_pack_is_refused_until_a_second_person_approves(tmp_path: Path) -> None:
    store = AlertStore.open(f"sqlite:///{tmp_path / 'alerts.db'}")
    store.users.add_user("ann", "officer", "password-ann")
    store.users.add_user("bo", "supervisor", "password-bo")
    history = store.pack_history
    reload, folder = reloader(tmp_path, history)
    (folder / "tuning.yaml").write_text(V2, encoding="utf-8")
    outcome = reload.check_now()
    assert outcome is not None and "not approved by a second person" in outcome.detail
    assert not reload.approval_arrived()
    pack_hash = load_rules([folder]).pack_hash
    history.propose(
        store.users.identity("ann"),
        version="v2",
        pack_hash=pack_hash,
        diff_summary="patch",
        ticket="CHG-3",
        at=AT,
    )
    assert not reload.approval_arrived()
    assert reload.check_now() is None  # still the same refusal
    history.approve(store.users.identity("bo"), pack_hash=pack_hash, at=AT)
    assert reload.approval_arrived()  # what the watcher polls between file changes
    outcome = reload.check_now()
    assert outcome is not None and outcome.applied
    assert reload.live.current[1].pack_hash == pack_hash
    assert not reload.approval_arrived()
    store.close()


def test_the_swap_happens_between_batches(tmp_path: Path) -> None:
    first = load_rules()
    live = LiveRules(first)

    class Runner:
        stage = Stage("transaction", first.by_entity("transaction"))

    runner = Runner()
    swap = StageSwap(live, AlertRenderer(first.pack_hash))
    assert swap.refresh(runner).pack_hash == first.pack_hash
    disabled = tmp_path / "off.yaml"
    disabled.write_text("- override: large_cash_single\n  enabled: false\n", encoding="utf-8")
    second = load_rules([disabled])
    live.swap(second)
    renderer = swap.refresh(runner)  # the next batch
    assert renderer.pack_hash == second.pack_hash
    assert "large_cash_single" not in {r.id for r in runner.stage.rules}
