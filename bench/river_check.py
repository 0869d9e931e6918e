"""Where river could replace hand-written model code: the calibration quantile, measured.

Run from the repository root (a few seconds)::

    .venv/bin/python -m bench.river_check

The calibrator needs the (1 - rate) quantile of recent scores for small rates (1 alert per
10,000 scored events by default). This compares, on a heavy-tailed stream of scores, the exact
quantile of the last ``epoch`` to ``2 * epoch`` values with

- :class:`monitor.models.quantile.TailQuantile` (ours: the exact largest values of two epochs),
- ``river.stats.Quantile`` (the P-square sketch: five markers, constant memory),
- ``river.stats.RollingQuantile`` (over a sliding window of one epoch: keeps the whole window).

It prints the relative error, the time per update and what each must keep in its snapshot.
The half-space-tree comparison is in ``bench/models_bench.py`` (river's ``HalfSpaceTrees`` is
timed and scored there beside ours).
"""

from __future__ import annotations

import json
import pickle
import random
import time

from river import stats

from monitor.models.quantile import TailQuantile

RATE = 1e-4
EPOCH = 50_000
N = 150_000


def scores(seed: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.lognormvariate(0.0, 1.2) for _ in range(N)]


def main() -> None:
    values = scores(7)
    q = 1.0 - RATE
    ours, p2, rolling = (
        TailQuantile(epoch=EPOCH),
        stats.Quantile(q),
        stats.RollingQuantile(q, EPOCH),
    )
    timings = {}
    for name, update in (
        ("TailQuantile (ours)", ours.update),
        ("river Quantile (P2)", p2.update),
        ("river RollingQuantile", rolling.update),
    ):
        start = time.perf_counter()
        for value in values:
            update(value)
        timings[name] = (time.perf_counter() - start) / N * 1e6
    # Ours covers the last one to two epochs; compare with the exact quantile of that span.
    span = values[(N // EPOCH - 1) * EPOCH :] if N % EPOCH == 0 else values[-(N % EPOCH + EPOCH) :]
    ranked = sorted(span, reverse=True)
    exact = ranked[max(1, round(RATE * len(span))) - 1]
    estimates = {
        "TailQuantile (ours)": ours.quantile(RATE),
        "river Quantile (P2)": p2.get(),
        "river RollingQuantile": rolling.get(),
    }
    sizes = {
        "TailQuantile (ours)": len(json.dumps(ours.to_state())),
        "river Quantile (P2)": len(pickle.dumps(p2)),
        "river RollingQuantile": len(pickle.dumps(rolling)),
    }
    print(f"{N:,} lognormal scores, quantile {q} (rate {RATE}), exact over the last "
          f"{len(span):,}: {exact:.3f}")  # fmt: skip
    print("| estimator | estimate | relative error | µs/update | snapshot bytes |")
    print("|---|---:|---:|---:|---:|")
    for name, estimate in estimates.items():
        error = (estimate - exact) / exact
        print(f"| {name} | {estimate:.3f} | {error:+.1%} | {timings[name]:.2f} | {sizes[name]:,} |")


if __name__ == "__main__":
    main()
