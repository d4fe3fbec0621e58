"""What a bundle's learned prior is worth, measured (docs/prior.md): texture, continuation, silence and cost.

    .venv/bin/python scripts/make_heldout.py --data /work/corpus/train --out /tmp/heldout
    .venv/bin/python benchmarks/prior_eval.py --bundle desktop/factory/default --heldout /tmp/heldout

Texture: held-out files are split in two halves A and B (alternate files in sorted order). Every set is cut into
1-s segments every 0.5 s and embedded with ``desktop.evaluation.texture`` (log-mel mean/std + modulation
spectrum, 72 numbers); each is compared with A by Frechet distance, with as many segments as B: B itself (real vs
real: the floor), prior samples at --temperature (5-s pieces, one seed each) and N(0, I) samples (the
renderer's fallback, --smooth 0.1 as its default).

Continuation: from each held-out file of at least --prime + 1 seconds, a --prime-second excerpt (at a seeded
random place) primes the prior, which continues for 1 s. A prime passes when the continuation's embedding is
closer (Euclidean, each dimension scaled by its std over all held-out segments) to the prime's last second than to
a random second of another held-out file: 'raw' with both as recorded, 'model' with both resynthesised by the
bundle (the codec's colouring, common to both, cancels). The file's own next second is scored like 'raw' beside
it (what real audio does).

Silence: the share of 1-s stretches below -50 dBFS (RMS) in 10 unprimed samples of 20 s (seeds 0-9), and in the
held-out audio itself: a prior that learned that sound dies away and nothing follows scores far above the corpus.

Cost: median onnxruntime time of one prior step and of one decoder step at the bundle's streaming block, one
thread each.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from core.audiofile import Audio, find_audio_files, load_audio, resample
from core.bundle_io import load_bundle
from core.prior_frames import audio_frames, joined_stats, level_dims, prior_levels, split_levels
from core.session import ModelRunner
from desktop.engine.model.generate import BoundPrior
from desktop.engine.model.morph import generate
from desktop.engine.model.prior import PriorRunner, generate_with_prior, sample_frame
from desktop.evaluation.texture import embed, frechet_distance

PIECE_S = 5.0  # many short pieces, as the held-out half is many files: one stuck piece cannot dominate


def heldout_audio(folder: Path, rate: int) -> list[tuple[str, np.ndarray]]:
    out = []
    for path in sorted(find_audio_files(folder)):
        a = load_audio(path)
        out.append((str(path.relative_to(folder)), resample(a.mono(), a.sample_rate, rate).astype(np.float32)))
    return out


def embed_all(signals: list[np.ndarray], rate: int) -> np.ndarray:
    parts = [embed(x, rate) for x in signals]
    return np.concatenate([p for p in parts if len(p)]) if parts else np.zeros((0, 1))


def pieces(make, total_s: float, seed: int) -> list[np.ndarray]:
    n = max(1, int(np.ceil(total_s / PIECE_S)))
    return [make(PIECE_S, seed + i) for i in range(n)]


def texture(runner, prior, real, temperature: float, seed: int) -> dict:
    rate = runner.manifest.sample_rate
    half_a = [x for i, (_, x) in enumerate(real) if i % 2 == 0]
    half_b = [x for i, (_, x) in enumerate(real) if i % 2 == 1]
    ea, eb = embed_all(half_a, rate), embed_all(half_b, rate)
    seconds = len(eb) * 0.5 + 1
    rng = np.random.default_rng(seed)

    def subsample(e: np.ndarray) -> np.ndarray:
        return e[np.sort(rng.choice(len(e), size=min(len(e), len(eb)), replace=False))]

    normal = pieces(lambda s, k: generate(runner, s, 1.0, 0.1, k), seconds, seed)
    result = {
        "segments": {"A": len(ea), "B": len(eb)},
        "fd_real_vs_real": frechet_distance(ea, eb),
        "fd_normal": frechet_distance(ea, subsample(embed_all(normal, rate))),
    }
    if prior is not None:
        made = pieces(lambda s, k: generate_with_prior(runner, prior, s, temperature, k), seconds, seed)
        result["fd_prior"] = frechet_distance(ea, subsample(embed_all(made, rate)))
        result["fd_prior_over_normal"] = result["fd_prior"] / result["fd_normal"]
    return result


def through_model(runner, x: np.ndarray) -> np.ndarray:
    """``x`` resynthesised by the bundle (encode, decode, its streaming delay removed), same length."""
    rate = runner.manifest.sample_rate
    m = runner.manifest
    z = audio_frames(runner, Audio(x[None, :], rate))
    levels = prior_levels(m)
    y = runner.decode(split_levels(z, levels, level_dims(m, levels)))[0, 0]
    delay = runner.manifest.streaming.delay if runner.manifest.streaming else 0
    return np.pad(y[delay : delay + len(x)], (0, max(0, len(x) - len(y) + delay)))


def continuation(runner, prior, real, prime_s: float, count: int, temperature: float, seed: int) -> dict:
    """'raw': continuation vs the prime's last second and a random second as recorded; 'model': those two
    seconds resynthesised by the bundle first, so the codec's own colouring, common to both, cancels."""
    rate = runner.manifest.sample_rate
    rng = np.random.default_rng(seed)
    scale = np.std(embed_all([x for _, x in real], rate), axis=0) + 1e-9
    long = [(n, x) for n, x in real if len(x) >= (prime_s + 1) * rate]
    if len(long) < 2:
        raise SystemExit(f"continuation needs 2 held-out files of at least {prime_s + 1:g} s (found {len(long)})")
    wins = {"raw": 0, "model": 0, "real_next_raw": 0}
    by_kind: dict[str, list[int]] = {}  # top folder -> [prior closer (raw), primes]
    for t in range(count):
        i = t % len(long)
        name, x = long[i]
        start = int(rng.integers(0, len(x) - int((prime_s + 1) * rate) + 1))
        p = x[start : start + int(prime_s * rate)]
        cont = generate_with_prior(runner, prior, 1.0, temperature, seed + t, prime=Audio(p[None, :], rate, name))
        nxt = x[start + len(p) : start + len(p) + rate]
        _, other = long[(i + 1 + int(rng.integers(0, len(long) - 1))) % len(long)]
        o = int(rng.integers(0, len(other) - 4 * rate + 1)) if len(other) >= 4 * rate else 0
        o_seg = other[o : o + 4 * rate]  # resynthesised with 3 s of context, like the prime
        last_m, other_m = through_model(runner, p)[-rate:], through_model(runner, o_seg)[-rate:]
        e = {k: embed(v, rate)[0] / scale for k, v in
             {"cont": cont, "last": p[-rate:], "other": o_seg[-rate:], "next": nxt, "last_m": last_m,
              "other_m": other_m}.items()}  # fmt: skip
        d = lambda a, b: np.linalg.norm(e[a] - e[b])  # noqa: E731
        wins["raw"] += d("cont", "last") < d("other", "last")
        kind = by_kind.setdefault(name.split("/")[0], [0, 0])
        kind[0] += d("cont", "last") < d("other", "last")
        kind[1] += 1
        wins["model"] += d("cont", "last_m") < d("other_m", "last_m")
        wins["real_next_raw"] += d("next", "last") < d("other", "last")
    return {
        "primes": count,
        "prime_seconds": prime_s,
        **{f"closer_{k}": v / count for k, v in wins.items()},
        "closer_raw_by_kind": {k: f"{w}/{n}" for k, (w, n) in sorted(by_kind.items())},
    }


SILENT_DB = -50.0


def silent_share(x: np.ndarray, rate: int) -> float:
    """The share of whole 1-s stretches of ``x`` whose RMS is below SILENT_DB dBFS."""
    sec = x[: len(x) // rate * rate].reshape(-1, rate)
    return float(np.mean(10 * np.log10(np.mean(sec.astype(np.float64) ** 2, axis=1) + 1e-12) < SILENT_DB))


def silence(runner, prior, real, temperature: float, samples: int = 10, seconds: float = 20.0) -> dict:
    """Silent seconds in unprimed prior samples (seeds 0..samples-1) against the held-out audio's."""
    rate = runner.bundle.manifest.sample_rate
    shares = [silent_share(generate_with_prior(runner, prior, seconds, temperature, s), rate) for s in range(samples)]
    held = np.concatenate([x for _, x in real])
    return {
        "prior_silent_share": float(np.mean(shares)),
        "per_seed": shares,
        "heldout_silent_share": silent_share(held, rate),
    }


def step_costs(runner, prior, repeats: int = 3000) -> dict:
    """Median microseconds of one decoder call at the streaming block and of the prior's frames for that block
    (step + sampling); the two are timed alternately, so a busy machine slows both alike."""
    m = runner.manifest
    block = m.streaming.block if m.streaming else m.pad_multiple
    level = m.levels[0]
    z = {lv.name: np.zeros((1, lv.dim, block // lv.hop), np.float32) for lv in m.levels}
    dec_states = runner.zero_states("decoder")
    rng = np.random.default_rng(0)
    dec, pri, live = [], [], []
    state = prior.start(joined_stats(m, prior_levels(m))[0].astype(np.float32)) if prior is not None else None
    bound = BoundPrior(prior) if prior is not None else None  # the app's Generate mode steps it this way
    if bound is not None:
        bound.load(state)
    for i in range(repeats + 50):
        t0 = time.perf_counter()
        runner.decode_step(z, dec_states)
        t1 = time.perf_counter()
        if prior is not None:
            for _ in range(block // level.hop):
                state = prior.step(state.h, sample_frame(state, 1.0, rng), state.style)
        t2 = time.perf_counter()
        runner.decode_step(z, dec_states)
        t3 = time.perf_counter()
        if bound is not None:
            bound.generate(block // level.hop, 1.0, rng)
        t4 = time.perf_counter()
        if i >= 50:
            dec.append(t1 - t0)
            pri.append(t2 - t1)
            live.append(t4 - t3)
    out = {"block_samples": block, "decoder_step_us": statistics.median(dec) * 1e6}
    if prior is not None:
        out["prior_step_us"] = statistics.median(pri) * 1e6
        out["prior_over_decoder"] = out["prior_step_us"] / out["decoder_step_us"]
        out["generate_mode_step_us"] = statistics.median(live) * 1e6  # IO bindings (desktop/engine/model/generate.py)
        out["generate_mode_over_decoder"] = out["generate_mode_step_us"] / out["decoder_step_us"]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bundle", required=True)
    p.add_argument("--heldout", required=True, type=Path, help="folder of held-out audio (scripts/make_heldout.py)")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--primes", type=int, default=60)
    p.add_argument("--prime", type=float, default=3.0, help="prime length in seconds")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip", nargs="*", default=[], choices=["texture", "continuation", "silence", "cost"])
    a = p.parse_args(argv)
    bundle = load_bundle(a.bundle)
    runner = ModelRunner(bundle, provider="cpu", threads=1)
    prior = PriorRunner(bundle) if bundle.manifest.prior is not None else None
    if prior is None:
        print(f"note: {a.bundle} has no learned prior; only N(0, I) and real figures", file=sys.stderr)
    real = heldout_audio(a.heldout, bundle.manifest.sample_rate)
    report: dict = {"bundle": str(a.bundle), "heldout_files": len(real), "temperature": a.temperature}
    t0 = time.perf_counter()
    if "texture" not in a.skip:
        report["texture"] = texture(runner, prior, real, a.temperature, a.seed)
    if "continuation" not in a.skip and prior is not None:
        report["continuation"] = continuation(runner, prior, real, a.prime, a.primes, a.temperature, a.seed)
    if "silence" not in a.skip and prior is not None:
        report["silence"] = silence(runner, prior, real, a.temperature)
    if "cost" not in a.skip:
        report["cost"] = step_costs(runner, prior)
    report["seconds"] = time.perf_counter() - t0
    print(json.dumps(report, indent=1, default=lambda v: round(float(v), 4)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
