"""The source-filter gate (issue 22): the sf analysis and synthesis with nothing learned (torch, whole signal, the
family's defaults) against WORLD (Harvest f0, CheapTrick, D4C at the models' 256-sample hop) on the same speech
files: PESQ-WB, STOI, level, pitch (pYIN on input and output), the energy-envelope lag after the declared delay, and
the eval's mel and STFT distances.

    python -m benchmarks.dsp_gate "DIR/*.wav" [--files N] [--systems dsp,world,world5ms] [--seconds 10]
    python -m benchmarks.dsp_gate "DIR/*.wav" --checkpoint RUN/checkpoints/last.pt --systems dsp   # a trained sf model
    python -m benchmarks.dsp_gate "PHRASES/*.wav" --systems dsp --synthesis additive --env-window 512 \
        --analysis-lag 256 --ap-power 1 --ap-estimate valley                  # the instruments' analysis

The bundle's graphs give the same output to 1e-4 (export checks it); `latentsynth-eval --peers` measures the shipped
dsp bundle through them.
"""

from __future__ import annotations

import argparse
import glob
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from desktop.evaluation import pitch as P
from desktop.evaluation.peers import world_harvest
from desktop.evaluation.perceptual import pesq_wb, stoi
from desktop.evaluation.spectral import mel_distance, stft_distance
from models import build_model, model_config
from models.sfvae import SourceFilterVAE

warnings.simplefilter("ignore")


SR = 22050
WORLD_HOPS = {"world": 256, "world5ms": 110}  # WORLD (Harvest f0) at the models' hop, and at 5-ms frames


def envelope_lag(y: np.ndarray, x: np.ndarray, max_lag: int = 512) -> int:
    """Samples by which y's energy envelope (512-sample mean square) lags x's, best correlation in +-max_lag."""
    k = np.ones(512) / 512
    ex, ey = np.sqrt(np.convolve(x**2, k, "valid")), np.sqrt(np.convolve(y**2, k, "valid"))
    lags = np.arange(-max_lag, max_lag + 1, 4)
    core = slice(max_lag, len(ex) - max_lag)
    scores = [np.corrcoef(ex[core], ey[max_lag + lag : len(ey) - max_lag + lag])[0, 1] for lag in lags]
    return int(lags[int(np.nanargmax(scores))])


def dsp(model: SourceFilterVAE, x: np.ndarray) -> np.ndarray:
    n = len(x)
    t = torch.nn.functional.pad(torch.from_numpy(x)[None, None], (0, (-n) % model.hop + model.delay + model.hop))
    with torch.no_grad():
        y = model.decode(model.encode(t))[0, 0].numpy()
    return y[model.delay : model.delay + n]


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("pattern")
    p.add_argument("--files", type=int, default=20)
    p.add_argument("--systems", default="dsp,world")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument(
        "--harmonics", type=int, default=None, help="the oscillator's harmonic count (default: the family's)"
    )
    p.add_argument("--checkpoint", default=None, help="measure this trained sf checkpoint as 'dsp' instead")
    p.add_argument(
        "--synthesis", default="stft-live", help="stft-live (the dsp preset's), stft or additive (models/sfvae.py)"
    )
    p.add_argument("--env-window", type=int, default=None, help="the envelope's window (default: the family's)")
    p.add_argument(
        "--analysis-lag", type=int, default=0, help="where the envelope window is centred, samples back (0: default)"
    )
    p.add_argument("--ap-power", type=float, default=None, help="aperiodicity exponent (default: the family's)")
    p.add_argument("--ap-estimate", default=None, help="acf or valley (models/aperiodicity.py; default: the family's)")
    p.add_argument(
        "--env-low-width",
        type=float,
        default=None,
        help="Hz: the envelope under 0.9 f0 smoothed this wide (default: f0)",
    )
    p.add_argument("--pitch-fmax", type=float, default=None, help="the tracker's highest f0 (default: the family's)")
    p.add_argument("--pitch-filter", type=int, default=None, help="frames of the causal pitch filter (0: none)")
    return p.parse_args()


def main() -> None:
    args = _args()
    torch.set_num_threads(1)
    kw = {"harmonics": args.harmonics} if args.harmonics else {}
    kw.update({"env_window": args.env_window} if args.env_window else {}, analysis_lag=args.analysis_lag)
    kw.update({"ap_power": args.ap_power} if args.ap_power else {})
    kw.update({"ap_estimate": args.ap_estimate} if args.ap_estimate else {})
    kw.update({"env_low_width_hz": args.env_low_width} if args.env_low_width else {})
    kw.update({"pitch_fmax": args.pitch_fmax} if args.pitch_fmax else {})
    kw.update({"pitch_filter": args.pitch_filter} if args.pitch_filter is not None else {})
    model = build_model(model_config("sf", latent_dim=0, synthesis=args.synthesis, **kw)).eval()
    if args.checkpoint:
        from trainer.checkpoint import load_checkpoint, model_from_checkpoint

        ckpt = load_checkpoint(Path(args.checkpoint))
        model = model_from_checkpoint(ckpt)[0]
        print(f"checkpoint step {ckpt['step']}")
    files = sorted(glob.glob(args.pattern))[: args.files]
    rows: dict[str, list] = {s: [] for s in args.systems.split(",")}
    unknown = set(rows) - {"dsp", *WORLD_HOPS}
    if unknown:
        raise SystemExit(f"--systems: unknown {sorted(unknown)}; choose from dsp, {', '.join(WORLD_HOPS)}")
    pooled: dict[str, P.PitchCounts] = {}
    for f in files:
        x, sr = sf.read(f, dtype="float32", always_2d=True)
        x = x.mean(axis=1)[: int(args.seconds * SR)]
        if sr != SR:
            raise SystemExit(f"{f}: {sr} Hz; this gate reads {SR} Hz files")
        tx = P.track(x, SR)
        for name in rows:
            y = dsp(model, x) if name == "dsp" else world_harvest(x, SR, hop=WORLD_HOPS[name])[0]
            counts = P.compare(tx, P.track(y, SR))
            pooled[name] = pooled.get(name, P.PitchCounts()) + counts
            c = counts.summary()
            level = 10 * np.log10(np.mean(y**2) / np.mean(x**2))
            rows[name].append(
                (
                    pesq_wb(x, y, SR) or np.nan,
                    stoi(x, y, SR) or np.nan,
                    level,
                    c["pitch_median_cents"] or np.nan,
                    c["pitch_within_50c"] or np.nan,
                    envelope_lag(y, x),
                    mel_distance(y, x, SR),
                    stft_distance(y, x),
                )
            )
    print(f"{len(files)} files of {args.pattern}, first {args.seconds:g} s each")
    for name, r in rows.items():
        a = np.array(r, dtype=float)
        print(
            f"{name:6s} PESQ-WB {np.nanmean(a[:, 0]):.3f}  STOI {np.nanmean(a[:, 1]):.3f}  level {np.mean(a[:, 2]):+.2f} dB  "
            f"pitch {np.nanmedian(a[:, 3]):.1f} c, {np.nanmean(a[:, 4]):.0%} within 50 c "
            f"({pooled[name].summary()['pitch_within_50c']:.1%} of all voiced frames)  "
            f"envelope lag median {np.median(a[:, 5]):+.0f} samples  mel {np.mean(a[:, 6]):.3f}  stft {np.mean(a[:, 7]):.3f}"
        )


if __name__ == "__main__":
    main()
