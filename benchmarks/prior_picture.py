"""Spectrograms of 10 s from a bundle's learned prior, from N(0, I) latents and from held-out audio (docs/prior.md).

    .venv/bin/python benchmarks/prior_picture.py --bundle desktop/factory/default --heldout /tmp/heldout \\
        --out docs/prior.png

Real: held-out files in sorted order, each cut to at most 2.5 s, joined until there are 10 s (a mix of the
corpus's kinds of sound, as the generators' 10 s are). Log-mel (the texture embedding's bands, 80 of them here).

Continuations instead (``--prime FILE``): the file's first --prime-seconds and its own next seconds, then the same
prime and what each bundle's prior continues it with (``--also B`` adds bundles to compare), a line at the join:

    .venv/bin/python benchmarks/prior_picture.py --bundle desktop/factory/default --prime speech.wav \
        --also OLD_BUNDLE --out docs/prior-continuation.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from core.audiofile import Audio, find_audio_files, load_audio, resample
from core.bundle_io import load_bundle
from core.session import ModelRunner
from desktop.engine.model.morph import generate
from desktop.engine.model.prior import PriorRunner, generate_with_prior
from desktop.engine.model.spectral import mel_filters, stft_magnitude

SECONDS = 10.0


def real_excerpt(folder: Path, rate: int, seed: int) -> np.ndarray:
    files = sorted(find_audio_files(folder))
    order = np.random.default_rng(seed).permutation(len(files))
    parts, total = [], 0
    for i in order:
        a = load_audio(files[i])
        x = resample(a.mono(), a.sample_rate, rate)[: int(2.5 * rate)]
        parts.append(x)
        total += len(x)
        if total >= SECONDS * rate:
            break
    return np.concatenate(parts)[: int(SECONDS * rate)].astype(np.float32)


def log_mel(x: np.ndarray, rate: int) -> np.ndarray:
    mag = stft_magnitude(x, 1024, 256, center=True, pad_mode="constant")
    return np.log10(mel_filters(rate, 1024, 80) @ mag**2 + 1e-8)


def continuations(bundles: list[str], prime: Path, prime_s: float, seed: int) -> tuple[dict, float]:
    """{title: prime + what follows it}: the file's own, then each bundle's prior's (at temperature 1)."""
    first = load_bundle(bundles[0])
    rate = first.manifest.sample_rate
    a = load_audio(prime)
    x = resample(a.mono(), a.sample_rate, rate).astype(np.float32)
    n = int(prime_s * rate)
    rest = min(len(x) - n, n)
    if rest <= 0:
        raise ValueError(f"{prime}: shorter than --prime-seconds {prime_s:g}")
    rows = {f"{prime.name}: its first {prime_s:g} s and its own next {rest / rate:.1f} s": x[: n + rest]}
    for path in bundles:
        bundle = load_bundle(path)
        spec = bundle.manifest.prior
        if spec is None:
            raise ValueError(f"{path}: the bundle has no learned prior")
        cont = generate_with_prior(ModelRunner(bundle, provider="cpu"), PriorRunner(bundle), rest / rate, 1.0, seed,
                                   prime=Audio(x[None, :n], rate, str(prime)))  # fmt: skip
        style = f"styled, {spec.style_frames} frames" if spec.style_frames else "unstyled"
        rows[f"{Path(path).name}'s prior ({style}) continuing the same {prime_s:g} s"] = np.concatenate([x[:n], cont])
    return rows, prime_s


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bundle", required=True)
    p.add_argument("--heldout", type=Path, help="held-out audio (for 10 s of prior, N(0, I) and real)")
    p.add_argument("--prime", type=Path, help="draw continuations of this file instead (see above)")
    p.add_argument("--prime-seconds", type=float, default=3.0)
    p.add_argument("--also", nargs="*", default=[], help="with --prime: more bundles whose priors continue it")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bundle = load_bundle(a.bundle)
    if bundle.manifest.prior is None:
        print(f"error: {a.bundle}: the bundle has no learned prior", file=sys.stderr)
        return 2
    if (a.prime is None) == (a.heldout is None):
        print("error: give --heldout (prior, N(0, I), real) or --prime FILE (continuations)", file=sys.stderr)
        return 2
    runner = ModelRunner(bundle, provider="cpu")
    rate = bundle.manifest.sample_rate
    join = None
    if a.prime is not None:
        try:
            rows, join = continuations([a.bundle, *a.also], a.prime, a.prime_seconds, a.seed)
        except (ValueError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    else:
        rows = {
            f"learned prior, temperature {a.temperature:g}": generate_with_prior(
                runner, PriorRunner(bundle), SECONDS, a.temperature, a.seed
            ),
            "N(0, I) latents (no prior)": generate(runner, SECONDS, 1.0, 0.1, a.seed),
            "held-out audio (real)": real_excerpt(a.heldout, rate, a.seed),
        }
    fig, axes = plt.subplots(len(rows), 1, figsize=(10, 2.3 * len(rows)), sharex=True)
    for ax, (title, x) in zip(axes, rows.items()):
        ax.imshow(log_mel(x, rate), origin="lower", aspect="auto", cmap="magma", vmin=-6, vmax=2,
                  extent=(0, len(x) / rate, 0, 80))  # fmt: skip
        ax.set_title(title, fontsize=10)
        if join is not None:
            ax.axvline(join, color="white", lw=1, ls="--")
        ax.set_ylabel("mel band")
    axes[-1].set_xlabel("seconds")
    fig.tight_layout()
    fig.savefig(a.out, dpi=64)
    print(a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
