#!/usr/bin/env python3
"""Print a run's curve from its train_log.jsonl: minutes of training, the step, training-batch pitch error against
the labels (hpn: stats/pitch_cents, stats/pitch_within_50c, averaged over each log window) and the validation
losses (val/mel: multi-scale log10-mel L1 on held-out chunks, val/pitch).

    python scripts/train_curve.py RUN_DIR [--every 500]
"""
import argparse
import json
from pathlib import Path

p = argparse.ArgumentParser()
p.add_argument("run")
p.add_argument("--every", type=int, default=500)
args = p.parse_args()
minutes, last_step, train, rows = 0.0, 0, {}, []
for line in (Path(args.run) / "train_log.jsonl").read_text().splitlines():
    d = json.loads(line)
    step = d.get("step", 0)
    if "stats/steps_per_s" in d and d["stats/steps_per_s"] > 0:
        minutes += (step - last_step) / d["stats/steps_per_s"] / 60
        last_step = step
        train = d
    if "val/mel" in d and step % args.every == 0:
        rows.append((minutes, step, train.get("stats/pitch_cents"), train.get("stats/pitch_within_50c"),
                     d["val/mel"], d.get("val/pitch"), d.get("val/kl")))
print("| minutes | step | train pitch err (cents, median) | train within 50 c | val mel | val pitch CE | val KL |")
print("|---|---|---|---|---|---|---|")
for m, s, pc, pw, vm, vp, vk in rows:
    f = lambda v, spec: "-" if v is None else format(v, spec)  # noqa: E731
    print(f"| {m:.0f} | {s} | {f(pc, '.0f')} | {f(pw, '.0%')} | {vm:.3f} | {f(vp, '.2f')} | {f(vk, '.1f')} |")
