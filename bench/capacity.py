"""The capacity model of ``docs/capacity.md``, derived by code from ``bench/results.json``.

    .venv/bin/python -m bench.capacity [--results bench/results.json] [--page docs/capacity.md]

``make bench`` calls this after every section, so the page's tables (between the
``capacity:begin`` / ``capacity:end`` markers) always follow the latest measured figures. The
formulas are :func:`inputs` (which figure feeds which symbol) and :func:`size` (one peak rate);
the assumptions that no benchmark measures are the constants below, named on the page.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- capacity:begin -->", "<!-- capacity:end -->"
RATES = (5_000, 20_000, 50_000)

# Assumptions (not measured by the suite; each is named on the page).
UTILISATION = 0.7  # plan each worker at most this busy at peak (rebalances, catch-up, bursts)
P99_TARGET_MS = 250.0  # produce-to-alert p99 the sizing must keep
ACCOUNTS_PER_EVENT_PER_S = 200  # active accounts per event/s of peak: 1M accounts peak at 5,000/s
STAGE_HOPS = 2  # stage topics an event visits: the transaction stage and its account/operator
CHANGED_KEYS_PER_EVENT = 1.0  # changelog records per event (a batch writes each changed key once)
REPLICATION = 3
BROKER_WRITE_MB_S = 60.0  # replicated writes one broker takes, MB/s (disk and network headroom)
PARTITIONS_PER_WORKER = 2  # room to double the workers without re-partitioning
BASE_RSS_MIB = 150.0  # a worker's RSS with no state, when no stream figure is there
DEFAULT_EVENT_BYTES = 400.0


@dataclass(frozen=True)
class Inputs:
    """The measured per-worker figures the model uses (``None``: not measured)."""

    worker: float | None  # W: events/s one worker drains
    bare: float | None  # F: the bare counting faust agent, same run
    quix: float | None  # the stateful quix-streams counter, same run
    scaling: float | None  # events/s of 2 workers / (2 x 1 worker), capped at 1
    utilisation: float  # u: the planning utilisation (latency-checked)
    latency_note: str
    replay_us_rules: float | None  # C: CPU µs per event of replay, rules only
    replay_us_models: float | None  # ... with models
    account_bytes: tuple[float, float] | None  # B_acct: memory store, RocksDB
    operator_bytes: tuple[float, float] | None
    review_bytes: tuple[float, float] | None
    operators_per_account: float  # live operators / live accounts after the state replay
    reviews_per_account: float  # live pending reviews / live accounts
    event_bytes: float  # S_in
    state_value_bytes: float  # a changelog value (JSON), mean
    base_rss_mib: float
    restore_keys_per_s: float | None  # K: the slowest measured restore rate
    sources: dict[str, str]  # symbol -> which run it came from


def _run(results: dict[str, Any], section: str) -> str:
    return str(results.get(section, {}).get("run", "not measured"))


def inputs(results: dict[str, Any]) -> Inputs:
    """The model's inputs from a results dict (the shape ``bench/suite.py`` writes)."""
    worker = results.get("worker") or {}
    replay = results.get("replay") or {}
    state = (results.get("state") or {}).get("kinds") or {}
    recovery = results.get("recovery") or {}
    stream = results.get("stream") or {}

    def rate(name: str) -> float | None:
        value = (worker.get(name) or {}).get("events_per_s")
        return float(value) if value else None

    w, w2 = rate("worker"), rate("workers_2")
    scaling = min(1.0, w2 / (2 * w)) if w and w2 else None
    # Utilisation: the highest load (input rate / W) the latency table measured within the p99
    # target, at most UTILISATION; the lowest measured load when none was within it.
    u, note = UTILISATION, f"{UTILISATION:.0%} of W (an assumption: no latency measured)"
    if w:
        measured = sorted(
            (row["rate"] / w, float(row["p99_ms"]))
            for row in worker.get("latency", ())
            if row.get("p99_ms") is not None
        )
        within = [(load, p99) for load, p99 in measured if p99 <= P99_TARGET_MS]
        if within:
            load, p99 = within[-1]
            u = min(UTILISATION, load)
            note = (
                f"p99 {p99:,.0f} ms at {load:.0%} of W, the highest load measured within"
                f" {P99_TARGET_MS:.0f} ms; at most {UTILISATION:.0%}"
            )
        elif measured:
            load, p99 = measured[0]
            u = min(UTILISATION, load)
            note = (
                f"no measured rate kept p99 within {P99_TARGET_MS:.0f} ms (p99 {p99:,.0f} ms at"
                f" {load:.0%} of W, the lowest load measured): sized at that load"
            )

    def us(name: str) -> float | None:
        value = (replay.get(name) or {}).get("events_per_cpu_s")
        return 1e6 / value if value else None

    def bytes_of(prefix: str) -> tuple[float, float] | None:
        for label, row in state.items():
            if label.startswith(prefix):
                return (float(row["memory_bytes_per_entity"]),
                        float(row["rocksdb_bytes_per_entity"]))  # fmt: skip
        return None

    def live(prefix: str) -> float:
        for label, row in state.items():
            if label.startswith(prefix):
                return float(row.get("live_keys_after_replay") or 0)
        return 0.0

    accounts = live("account")
    rates = [r["keys_per_s"] for r in recovery.get("rows", ()) if r.get("keys_per_s")]
    samples = stream.get("samples") or []
    return Inputs(
        worker=w,
        bare=rate("bare"),
        quix=rate("quix"),
        scaling=scaling,
        utilisation=u,
        latency_note=note,
        replay_us_rules=us("rules"),
        replay_us_models=us("models"),
        account_bytes=bytes_of("account"),
        operator_bytes=bytes_of("operator"),
        review_bytes=bytes_of("pending review"),
        operators_per_account=live("operator") / accounts if accounts else 0.0,
        reviews_per_account=live("pending review") / accounts if accounts else 0.0,
        event_bytes=float(replay.get("bytes_per_event") or DEFAULT_EVENT_BYTES),
        state_value_bytes=float(recovery.get("value_bytes_mean") or 600.0),
        base_rss_mib=float(samples[0]["rss_mib"]) if samples else BASE_RSS_MIB,
        restore_keys_per_s=min(rates) if rates else None,
        sources={
            "W, F, quix, scaling, latency": _run(results, "worker"),
            "C": _run(results, "replay"),
            "B": _run(results, "state"),
            "K": _run(results, "recovery"),
            "RSS": _run(results, "stream"),
        },
    )


@dataclass(frozen=True)
class Sizing:
    rate: int
    workers: int
    partitions: int
    accounts: int
    state_memory_gb: float  # the whole bank's state, memory store (Python objects)
    state_rocksdb_gb: float  # the same in RocksDB SST files
    memory_per_worker_gb: float  # memory store: state / workers + base RSS
    broker_in_mb_s: float  # before replication
    brokers: int
    restore_minutes: float | None  # a restarting worker's restore, memory store


def size(rate: int, inp: Inputs) -> Sizing | None:
    """Workers, partitions, memory and brokers for a peak of ``rate`` events/s (``None`` when
    the worker's throughput or the state sizes were not measured)."""
    if not inp.worker or not inp.account_bytes:
        return None
    per_worker = inp.worker * inp.utilisation * (inp.scaling or 1.0)
    workers = max(1, math.ceil(rate / per_worker))
    partitions = max(4, math.ceil(workers * PARTITIONS_PER_WORKER / 4) * 4)
    accounts = rate * ACCOUNTS_PER_EVENT_PER_S
    operators = accounts * inp.operators_per_account
    reviews = accounts * inp.reviews_per_account
    op_bytes = inp.operator_bytes or (0.0, 0.0)
    rev_bytes = inp.review_bytes or (0.0, 0.0)
    memory = accounts * inp.account_bytes[0] + operators * op_bytes[0] + reviews * rev_bytes[0]
    rocks = accounts * inp.account_bytes[1] + operators * op_bytes[1] + reviews * rev_bytes[1]
    per_event = inp.event_bytes * (1 + STAGE_HOPS) + CHANGED_KEYS_PER_EVENT * inp.state_value_bytes
    broker_in = rate * per_event / 1e6
    brokers = max(REPLICATION, math.ceil(broker_in * REPLICATION / BROKER_WRITE_MB_S))
    keys_per_worker = (accounts + operators + reviews) / workers
    restore = keys_per_worker / inp.restore_keys_per_s / 60 if inp.restore_keys_per_s else None
    return Sizing(
        rate=rate,
        workers=workers,
        partitions=partitions,
        accounts=int(accounts),
        state_memory_gb=memory / 1e9,
        state_rocksdb_gb=rocks / 1e9,
        memory_per_worker_gb=memory / workers / 1e9 + inp.base_rss_mib * 2**20 / 1e9,
        broker_in_mb_s=broker_in,
        brokers=brokers,
        restore_minutes=restore,
    )


def _num(value: float | None, fmt: str = ",.0f", unit: str = "") -> str:
    return "not measured" if value is None else f"{value:{fmt}}{unit}"


def render(results: dict[str, Any]) -> str:
    """The page's generated block: inputs, sizing per peak rate, and the limits."""
    inp = inputs(results)
    pair = lambda b: "not measured" if b is None else f"{b[0]:,.0f} / {b[1]:,.0f}"  # noqa: E731
    lines = [
        f"Generated by `python -m bench.capacity` from `bench/results.json` (last run:"
        f" `{results.get('command', '?')}`, {results.get('finished', '?')} UTC). Do not edit"
        " by hand: `make bench` rewrites it.",
        "",
        "| symbol | what | figure | from |",
        "|---|---|---:|---|",
        f"| `W` | events/s one riskmon worker drains | {_num(inp.worker)} |"
        f" {inp.sources['W, F, quix, scaling, latency']} |",
        f"| `F` | events/s the bare counting faust agent drains, same run | {_num(inp.bare)} |"
        " same |",
        f"| `Q` | events/s the stateful quix-streams counter drains, same run |"
        f" {_num(inp.quix)} | same |",
        f"| `e` | scaling efficiency: 2 workers / (2 x 1 worker), at most 1 |"
        f" {_num(inp.scaling, '.2f')} | same |",
        f"| `u` | planning utilisation of a worker | {inp.utilisation:.0%} | {inp.latency_note} |",
        f"| `C` | CPU µs per event, replay rules only / with models |"
        f" {_num(inp.replay_us_rules)} / {_num(inp.replay_us_models)} | {inp.sources['C']} |",
        f"| `B_acct` | bytes per active account, memory store / RocksDB |"
        f" {pair(inp.account_bytes)} | {inp.sources['B']} |",
        f"| `B_op` | bytes per operator, memory / RocksDB | {pair(inp.operator_bytes)} | same |",
        f"| `B_rev` | bytes per pending review, memory / RocksDB | {pair(inp.review_bytes)} |"
        " same |",
        f"| `o`, `p` | operators and pending reviews per active account (live after the state"
        f" replay) | {inp.operators_per_account:.4f}, {inp.reviews_per_account:.4f} | same |",
        f"| `S_in` | bytes per input event (JSON) | {inp.event_bytes:,.0f} | {inp.sources['C']} |",
        f"| `S_state` | bytes per changelog value (JSON, account state) |"
        f" {inp.state_value_bytes:,.0f} | {inp.sources['K']} |",
        f"| `K` | changelog keys a restarting worker restores per second (memory store; the"
        f" slowest size measured) | {_num(inp.restore_keys_per_s)} | same |",
        f"| `M0` | a worker's RSS before state (MiB) | {inp.base_rss_mib:,.0f} |"
        f" {inp.sources['RSS']} |",
        "",
        "Assumptions (not measured): "
        f"`A` = {ACCOUNTS_PER_EVENT_PER_S} active accounts per event/s of peak (a bank of 1M"
        f" active accounts peaks at {1_000_000 // ACCOUNTS_PER_EVENT_PER_S:,} events/s);"
        f" {STAGE_HOPS} stage hops per event; {CHANGED_KEYS_PER_EVENT:g} changelog record per"
        f" event; replication factor {REPLICATION}; {BROKER_WRITE_MB_S:g} MB/s of replicated"
        f" writes per broker; {PARTITIONS_PER_WORKER} partitions per worker at peak.",
        "",
        "| peak input `R` | workers (cores) | partitions per topic | active accounts `A` |"
        " state, memory store (whole bank) | memory per worker | state in RocksDB (disk) |"
        " broker in (MB/s, before replication) | brokers (RF 3) | restore per worker"
        " (memory store) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for rate in RATES:
        row = size(rate, inp)
        if row is None:
            lines.append(f"| {rate:,}/s | not measured (needs the worker and state sections)"
                         " | | | | | | | | |")  # fmt: skip
            continue
        restore = _num(row.restore_minutes, ",.1f", " min")
        lines.append(
            f"| {rate:,}/s | {row.workers:,} | {row.partitions:,} | {row.accounts:,} |"
            f" {row.state_memory_gb:,.1f} GB | {row.memory_per_worker_gb:,.2f} GB |"
            f" {row.state_rocksdb_gb:,.2f} GB | {row.broker_in_mb_s:,.0f} | {row.brokers:,} |"
            f" {restore} |"
        )
    lines += [
        "",
        "Formulas: workers = ceil(`R` / (`W` x `u` x `e`)); partitions = workers x"
        f" {PARTITIONS_PER_WORKER}, rounded up to a multiple of 4; state = `A` x (`B_acct` +"
        " `o` x `B_op` + `p` x `B_rev`); memory per worker = state / workers + `M0`; broker in"
        f" = `R` x (`S_in` x (1 + {STAGE_HOPS}) + {CHANGED_KEYS_PER_EVENT:g} x `S_state`);"
        f" brokers = max({REPLICATION}, ceil(broker in x {REPLICATION} /"
        f" {BROKER_WRITE_MB_S:g})); restore = keys per worker / `K`.",
    ]
    if inp.replay_us_rules and inp.replay_us_models:
        lines += [
            "",
            f"One hot key (account or operator) is processed in order on one core: at `C` ="
            f" {inp.replay_us_rules:,.0f} to {inp.replay_us_models:,.0f} µs per event it takes at"
            f" most {1e6 / inp.replay_us_models:,.0f} to {1e6 / inp.replay_us_rules:,.0f}"
            " events/s (engine only; the worker's own machinery lowers this towards `W`), and"
            " shares that core with its partition's other keys.",
        ]
    if inp.worker and inp.bare:
        lines += [
            "",
            f"The worker drains {inp.worker / inp.bare:.2f}x what the bare faust agent drains"
            + (f" and {inp.worker / inp.quix:.2f}x the quix-streams counter" if inp.quix else "")
            + " in the same run (the issue's target: 0.8x the bare agent).",
        ]
    return "\n".join(lines)


def replace_marked(text: str, begin: str, end: str, body: str, heading: str = "") -> str:
    """``text`` with what lies between the ``begin`` and ``end`` markers replaced by ``body``;
    without the markers, the block is appended at the end (after ``heading``, if given)."""
    block = f"{begin}\n{body}\n{end}"
    if begin in text and end in text:
        head, _, rest = text.partition(begin)
        _, _, tail = rest.partition(end)
        return head + block + tail
    return text.rstrip("\n") + "\n\n" + heading + block + "\n"


def write_page(results: dict[str, Any], page: Path) -> None:
    """Replace the generated block of ``page`` (appended at the end when it has no markers)."""
    text = page.read_text(encoding="utf-8") if page.exists() else "# Capacity model\n"
    page.write_text(replace_marked(text, BEGIN, END, render(results)), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results.json")
    parser.add_argument("--page", type=Path, default=REPO / "docs" / "capacity.md")
    parser.add_argument("--print", action="store_true", help="print the block, write nothing")
    args = parser.parse_args(argv)
    try:
        results = json.loads(args.results.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"capacity: cannot read {args.results}: {exc}")
        return 2
    if args.print:
        print(render(results))
    else:
        write_page(results, args.page)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
