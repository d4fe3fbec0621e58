"""The source-filter gate (issue 22): the sf analysis and synthesis (torch, whole signal) against WORLD (Harvest f0,
CheapTrick, D4C at the 256-sample hop) on the same speech files: PESQ-WB, STOI, lag, level, pitch (pYIN).

    python benchmarks/dsp_gate.py "DIR/*.wav" N_FILES ['{"ana": {...}, "delay": 512}'] [dsp,world]
"""

import glob
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
warnings.simplefilter("ignore")
from desktop.evaluation import pitch as P  # noqa: E402
from desktop.evaluation.peers import align  # noqa: E402
from desktop.evaluation.perceptual import pesq_wb, stoi  # noqa: E402
from models.sourcefilter import SourceFilterAnalysis, SourceFilterSynth  # noqa: E402

SR = 22050


def world_h(x, fp=256 / SR * 1000):
    import pyworld

    xd = np.ascontiguousarray(x, np.float64)
    f0, t = pyworld.harvest(xd, SR, f0_floor=50.0, f0_ceil=1500.0, frame_period=fp)
    sp = pyworld.cheaptrick(xd, f0, t, SR)
    ap = pyworld.d4c(xd, f0, t, SR)
    y = pyworld.synthesize(f0, sp, ap, SR, frame_period=fp)[: len(x)]
    return np.pad(y, (0, len(x) - len(y))).astype(np.float32)


def dsp(x, ana, syn, delay):
    t = torch.from_numpy(x)[None, None]
    n = len(x)
    pad = (-n) % 256 + delay + 256
    t = torch.nn.functional.pad(t, (0, pad))
    with torch.no_grad():
        pitch, v, env, ap = ana(t)
        y = syn(pitch, v, env, ap)[0, 0].numpy()
    return y[delay : delay + n]


def main(files, kw, which=("dsp", "world"), maxs=10):
    ana = SourceFilterAnalysis(**kw.get("ana", {})).eval()
    syn = SourceFilterSynth(**kw.get("syn", {})).eval()
    delay = kw.get("delay", 256)
    res = {w: [] for w in which}
    for f in files:
        x, sr = sf.read(f, dtype="float32")
        x = x[: maxs * SR]
        if x.ndim > 1:
            x = x.mean(1)
        for w in which:
            y = dsp(x, ana, syn, delay) if w == "dsp" else world_h(x)
            ya, lag = align(y, x, 1024)
            tx, ty = P.track(x), P.track(y)
            c = P.compare(tx, ty).summary()
            res[w].append(
                (
                    pesq_wb(x, y, SR) or np.nan,
                    stoi(x, y, SR) or np.nan,
                    lag,
                    10 * np.log10(np.mean(y**2) / np.mean(x**2) + 1e-12),
                    c["pitch_median_cents"] or np.nan,
                    c["pitch_within_50c"] or np.nan,
                )
            )
    for w in which:
        a = np.array(res[w], dtype=float)
        print(
            w,
            "PESQ %.3f STOI %.3f lag_med %d level_dB %.2f pitch_c %.1f w50 %.2f"
            % (
                np.nanmean(a[:, 0]),
                np.nanmean(a[:, 1]),
                np.median(a[:, 2]),
                np.mean(a[:, 3]),
                np.nanmedian(a[:, 4]),
                np.nanmean(a[:, 5]),
            ),
        )


if __name__ == "__main__":
    torch.set_num_threads(1)
    files = sorted(glob.glob(sys.argv[1]))[: int(sys.argv[2])]
    kw = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
    which = tuple(sys.argv[4].split(",")) if len(sys.argv) > 4 else ("dsp", "world")
    main(files, kw, which)
