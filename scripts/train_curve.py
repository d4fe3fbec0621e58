#!/usr/bin/env python3
"""Print a run's curve from its train_log.jsonl: minutes of training, the step, training-batch pitch error against
the labels (hpn: stats/pitch_cents, stats/pitch_within_50c, stats/voicing_agreement, as logged at each log
step) and the validation losses (val/mel: multi-scale log10-mel L1 on held-out chunks; val/pitch where a run has it).

    python -m scripts.train_curve RUN_DIR [--every 500]
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
        rows.append(
            (
                minutes,
                step,
                train.get("stats/pitch_cents"),
                train.get("stats/pitch_within_50c"),
                train.get("stats/voicing_agreement"),
                d["val/mel"],
                d.get("val/pitch"),
                d.get("val/kl"),
            )
        )
ce = any(r[6] is not None for r in rows)  # runs with the learned pitch classifier log a validation loss
print(
    "| minutes | step | train pitch err (cents, median) | train within 50 c | voicing agr. | val mel |"
    + (" val pitch CE |" if ce else "")
    + " val KL |"
)
print("|---|---|---|---|---|---|" + ("---|" if ce else "") + "---|")
for m, s, pc, pw, va, vm, vp, vk in rows:
    f = lambda v, spec: "-" if v is None else format(v, spec)  # noqa: E731
    print(
        f"| {m:.0f} | {s} | {f(pc, '.0f')} | {f(pw, '.0%')} | {f(va, '.0%')} | {vm:.3f} |"
        + (f" {f(vp, '.2f')} |" if ce else "")
        + f" {f(vk, '.1f')} |"
    )
