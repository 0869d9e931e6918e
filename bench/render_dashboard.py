"""Render docs/dashboard.png from real Prometheus data of a real `riskmon replay --metrics-port`.

    .venv/bin/python bench/render_dashboard.py [--seconds 40] [--out docs/dashboard.png]

A simulated bank day is fed to `riskmon replay -` on stdin in chunks, with a burst of undecodable
lines in the middle; a real Prometheus (tools/services.py) scrapes it every second; the key
panels of the SRE and Risk dashboards are then drawn from `query_range` with matplotlib.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tools import services  # noqa: E402  (tools/ is a folder of scripts)

PANELS = [
    ("Events consumed / s", "sum by (kind) (rate(riskmon_events_consumed_total[5s]))", "{kind}"),
    ("Dead letters / s", "sum by (reason) (rate(riskmon_dead_letters_total[5s]))", "{reason}"),
    (
        "p99 processing time per event (µs)",
        "histogram_quantile(0.99, sum by (le) "
        "(rate(riskmon_event_processing_seconds_bucket[5s]))) * 1e6",
        "p99",
    ),
    ("Alerts (cumulative) by category", "sum by (category) (riskmon_alerts_total)", "{category}"),
    ("State entries by stage", "sum by (stage) (riskmon_state_entries)", "{stage}"),
    ("Pending deadlines by stage", "sum by (stage) (riskmon_deadlines_pending)", "{stage}"),
]


def get(base: str, path: str, **params: str) -> Any:
    url = f"{base}/api/v1/{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())["data"]


def wait(probe: Any, timeout: float) -> None:
    end = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > end:
            raise TimeoutError("timed out")
        time.sleep(0.5)


def scrapable(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False


def lines_of_a_day(branches: int) -> list[str]:
    from monitor.events import encode_event
    from monitor.simulator import SimConfig, simulate

    return [encode_event(e) for e in simulate(SimConfig(seed=3, days=1, branches=branches)).events]


def feed(process: subprocess.Popen[bytes], lines: list[str], seconds: float) -> None:
    """Feed ``lines`` over ``seconds``; bad lines in the middle fifth, to show dead letters."""
    assert process.stdin is not None
    steps = int(seconds * 2)
    size = len(lines) // steps + 1
    for step in range(steps):
        chunk = [line + "\n" for line in lines[step * size : (step + 1) * size]]
        if 2 * steps // 5 <= step < 3 * steps // 5:
            chunk += ["{not json\n"] * (len(chunk) // 10)
        process.stdin.write("".join(chunk).encode())
        process.stdin.flush()
        time.sleep(0.5)
    process.stdin.close()


def plot(base: str, start: float, end: float, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(16, 8.5), constrained_layout=True)
    for ax, (title, expr, legend) in zip(axes.flat, PANELS, strict=True):
        data = get(base, "query_range", query=expr, start=str(start), end=str(end), step="1")
        for series in data["result"]:
            xs = [datetime.fromtimestamp(float(t)) for t, _ in series["values"]]
            ys = [float(v) for _, v in series["values"]]
            ax.plot(xs, ys, label=legend.format(**series["metric"]) if "{" in legend else legend)
        ax.set_title(title, fontsize=11)
        ax.grid(alpha=0.3)
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
        if data["result"]:
            ax.legend(fontsize=8, loc="upper left")
    fig.suptitle(
        "riskmon — replay of a simulated 5-branch bank day, scraped by a real Prometheus (1 s)",
        fontsize=13,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--branches", type=int, default=5)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "dashboard.png")
    args = parser.parse_args()
    lines = lines_of_a_day(args.branches)
    port = services.free_port()
    argv = [
        sys.executable, "-m", "riskmon.cli", "replay", "-", "--alerts-out", "/dev/null",
        "--dead-letter", "/dev/null", "--metrics-port", str(port), "--metrics-linger", "600",
    ]  # fmt: skip
    process = subprocess.Popen(argv, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    prometheus = None
    try:
        wait(lambda: scrapable(f"http://127.0.0.1:{port}/metrics"), 60)
        prometheus = services.start_prometheus([f"127.0.0.1:{port}"], scrape_interval="1s")
        base = prometheus.url
        wait(lambda: get(base, "query", query='up{job="riskmon"} == 1')["result"], 60)
        start = time.time()
        feed(process, lines, args.seconds)
        time.sleep(8)
        plot(base, start - 5, time.time(), args.out)
        print(f"{len(lines)} events in {args.seconds:.0f} s -> {args.out}")
    finally:
        process.terminate()
        process.wait(timeout=30)
        if prometheus is not None:
            prometheus.stop()


if __name__ == "__main__":
    main()
