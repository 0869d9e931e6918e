"""The entry points share one rule loader (rates file included), one currency table (the models
convert with the rule set's) and take defaults from one place."""

from __future__ import annotations

import inspect
import json
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from monitor.currency import CurrencyGate, cny_per_unit
from monitor.dedup import DEDUP_MAX_ENTRIES, DEDUP_WINDOW_SECONDS, EventDeduplicator
from monitor.rules.money import CurrencyTable
from riskmon.cli import app
from riskmon.rules_cli import load_or_exit
from riskmon.settings import Settings
from streams.kafka_client import KafkaClientConfigError
from streams.runs import model_stages_for, run_replay
from tests.test_identity import line

runner = CliRunner()


@pytest.fixture
def rates(tmp_path: Path) -> Path:
    path = tmp_path / "rates.yaml"
    path.write_text("base: CNY\nrates: {USD: 7.10, NGN: 0.0045}\n", encoding="utf-8")
    return path


def test_the_rates_file_replaces_the_default_table(rates: Path) -> None:
    plain = CurrencyGate.from_rules(load_or_exit(None, Settings()).rules).known
    with_rates = CurrencyGate.from_rules(
        load_or_exit(None, Settings(currency_rates_file=rates)).rules
    ).known
    assert plain is not None and with_rates is not None
    assert "NGN" not in plain and "EUR" in plain
    assert "NGN" in with_rates and "EUR" not in with_rates  # replaced, not merged


def test_replay_and_the_rules_commands_read_the_rates_file(rates: Path, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text(line(currency="NGN", amount="20000000") + "\n", encoding="utf-8")
    out, dead = tmp_path / "alerts.jsonl", tmp_path / "dead.jsonl"
    args = ["replay", str(events), "--alerts-out", str(out), "--dead-letter", str(dead)]
    env = {"RISKMON_CURRENCY_RATES_FILE": str(rates), "COLUMNS": "200"}
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    # 20,000,000 NGN x 0.0045 = 90,000 CNY: a large cash withdrawal once a rate is known.
    assert [json.loads(x)["rule_id"] for x in out.read_text().splitlines()] == ["large_cash_single"]
    assert dead.read_text() == ""

    broken = tmp_path / "broken.yaml"
    broken.write_text("base: CNY\nrates: {USD: -1}\n", encoding="utf-8")
    for command in (["replay", str(events)], ["rules", "validate"], ["rules", "test"]):
        failed = runner.invoke(
            app, command, env={**env, "RISKMON_CURRENCY_RATES_FILE": str(broken)}
        )
        assert failed.exit_code == 2, (command, failed.output)
        assert "rates.USD" in failed.output, (command, failed.output)


def test_replay_takes_its_dedup_defaults_from_the_deduplicator_as_the_settings_do() -> None:
    defaults = inspect.signature(run_replay).parameters
    settings = Settings()
    assert (defaults["dedup_window_seconds"].default, defaults["dedup_max_entries"].default) == (
        settings.dedup_window_seconds,
        settings.dedup_max_entries,
    )
    seen = EventDeduplicator()
    assert (seen.window, seen.max_entries) == (DEDUP_WINDOW_SECONDS, DEDUP_MAX_ENTRIES)
    assert (settings.dedup_window_seconds, settings.dedup_max_entries) == (
        DEDUP_WINDOW_SECONDS,
        DEDUP_MAX_ENTRIES,
    )


def test_the_kafka_client_config_comes_from_the_settings(tmp_path: Path) -> None:
    password_file = tmp_path / "kafka-password"
    password_file.write_text("hunter2\n", encoding="utf-8")
    env = {
        "RISKMON_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "RISKMON_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "RISKMON_KAFKA_SASL_USERNAME": "riskmon",
        "RISKMON_KAFKA_SASL_PASSWORD_FILE": str(password_file),
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        client = Settings().kafka_client()
    assert (client.security_protocol, client.sasl_mechanism, client.sasl_username) == (
        "SASL_PLAINTEXT",
        "SCRAM-SHA-512",
        "riskmon",
    )
    assert client.sasl_password == "hunter2"
    assert Settings().kafka_client().security_protocol == "PLAINTEXT"
    with pytest.raises(KafkaClientConfigError, match="user name and password"):
        Settings(kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="PLAIN").kafka_client()


def test_the_models_convert_amounts_with_the_rule_sets_currency_table(rates: Path) -> None:
    shipped = load_or_exit(None, Settings())
    table = cny_per_unit(shipped.rules)
    rule_table = next(r.threshold.table for r in shipped.rules if getattr(r, "threshold", None))
    assert rule_table.base == "CNY"
    assert table == {code: float(rate) for code, rate in rule_table.rates.items()}
    (account,) = [s for s in model_stages_for(True, shipped) if s.config.entity == "account"]
    assert account.kind.cny_per_unit == table
    assert model_stages_for(False, shipped) == []

    replaced = load_or_exit(None, Settings(currency_rates_file=rates))
    (account,) = [s for s in model_stages_for(True, replaced) if s.config.entity == "account"]
    assert account.kind.cny_per_unit == {"USD": 7.10, "NGN": 0.0045}


def test_a_table_on_another_base_is_turned_into_cny_per_unit() -> None:
    rule = SimpleNamespace(
        threshold=SimpleNamespace(
            table=CurrencyTable("USD", {"CNY": Decimal("0.125"), "EUR": Decimal("1.25")})
        )
    )
    assert cny_per_unit([SimpleNamespace(threshold=None), rule]) == {"USD": 8.0, "EUR": 10.0}
    assert cny_per_unit([]) == {}
