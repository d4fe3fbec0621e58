#!/usr/bin/env python3
"""The hpn encoder's own pitch (YIN inside the encoder, models/hpn.py) against pitch labels, no training needed:
on a folder's files, median |error| in cents and the share within 50 cents on frames both call voiced, and the
voicing agreement. Labels come from the trainer's cache (trainer/pitch_labels.py: YIN, or the exact f0 that
scripts/build_pitched_corpus.py and scripts/hpn_tones.py store there for their renders).

    python scripts/hpn_yin_check.py DIR [DIR ...] [--pitch-cache C] [--max-seconds 10] [--shift 1]

``--shift`` compares frame f with the label one hop earlier: the decoder plays frame f one hop late, so this is
the alignment a listener (and the evaluation) sees.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from desktop.engine.audiofile import find_audio_files, load_audio, resample  # noqa: E402
from models import ModelConfig, build_model  # noqa: E402
from trainer.pitch_labels import chunk_labels, label_signals  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("dirs", nargs="+")
    p.add_argument("--pitch-cache", default="")
    p.add_argument("--max-seconds", type=float, default=10.0)
    p.add_argument("--shift", type=int, default=1)
    p.add_argument("--n-fft", type=int, default=1024)
    a = p.parse_args()
    torch.set_num_threads(1)
    model = build_model(
        ModelConfig(
            family="hpn",
            n_fft=a.n_fft,
            causal=True,
            lookahead=1,
            latent_dim=4,
            enc_max_channels=16,
            dec_channels=16,
            dec_blocks=1,
        )
    ).eval()
    for d in a.dirs:
        errs, agree = [], []
        for f in find_audio_files(Path(d)):
            au = load_audio(f)
            x = resample(au.mono(), au.sample_rate, 22050).astype(np.float32)
            lab = label_signals([x], 22050, a.pitch_cache or None, show_progress=False)[0]
            x = x[: int(a.max_seconds * 22050)]
            x = x[: x.shape[0] // 256 * 256]
            with torch.no_grad():
                c = model.encode(torch.from_numpy(x)[None, None])["control"][0].numpy()
            L = chunk_labels(lab, -a.shift * 256, c.shape[1], 256)
            lv, ov = np.isfinite(L[0]) & (L[1] > 0.5), c[1] > 0.5
            both = lv & ov
            errs.append(np.abs(c[0][both] - L[0][both]) * 1200)
            agree.append(float((lv == ov).mean()))
        e = np.concatenate(errs) if errs else np.zeros(0)
        print(
            f"{d}: {len(agree)} files, {e.size} frames both voiced: median {np.median(e):.1f} cents, "
            f"{(e < 50).mean():.0%} within 50 c, {(e > 500).mean():.1%} octave-size errors (> 500 c), "
            f"voicing agreement {np.mean(agree):.0%}"
        )


if __name__ == "__main__":
    main()
