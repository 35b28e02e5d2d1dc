#!/usr/bin/env python3
"""Runs a criterion benchmark several times and prints, for each measurement, the median of
the runs' medians and their range, as Markdown rows.

    python3 benches/summarise.py dispatch 5 -- --warm-up-time 2 --measurement-time 4

Arguments: the bench name, the number of runs, then what `cargo bench` passes to criterion.
Each run's figures are criterion's own median estimate (`new/estimates.json`).
"""
import json
import os
import statistics
import subprocess
import sys
import time

bench, runs = sys.argv[1], int(sys.argv[2])
extra = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
target = os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target"))
criterion = os.path.join(target, "criterion")

samples = {}
for run in range(runs):
    started = time.time()
    subprocess.run(
        ["cargo", "bench", "-q", "-p", "tidings-benches", "--bench", bench, "--", *extra],
        cwd=root, check=True, stdout=subprocess.DEVNULL,
    )
    for folder, _, files in os.walk(criterion):
        if "estimates.json" in files and os.path.basename(folder) == "new":
            with open(os.path.join(folder, "estimates.json")) as f:
                median = json.load(f)["median"]["point_estimate"]
            name = os.path.relpath(os.path.dirname(folder), criterion)
            # Only what this run measured: criterion rewrites `new` for each benchmark it runs.
            if os.path.getmtime(os.path.join(folder, "estimates.json")) >= started:
                samples.setdefault(name, []).append(median)
    print(f"run {run + 1} of {runs} done", file=sys.stderr)

def show(ns):
    return f"{ns / 1000:.2f} µs" if ns >= 10_000 else f"{ns:.1f} ns"

print("| measurement | median of runs | range |")
print("|---|---:|---:|")
for name in sorted(samples):
    values = samples[name]
    print(f"| {name} | {show(statistics.median(values))} | {show(min(values))} – {show(max(values))} ({len(values)} runs) |")
