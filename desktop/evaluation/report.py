"""report.md and its pictures (matplotlib, from the ``eval`` extra): tables per category, probes, rates, spectrograms
side by side, and the quality-versus-bitrate plane."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .spectral import LOWER_IS_BETTER

COLUMNS = (  # key, header, format, better
    ("rate_kbps", "kbit/s", "{:.3g}", "lower"),
    ("mel_distance", "mel", "{:.3f}", "lower"),
    ("stft_distance", "stft", "{:.3f}", "lower"),
    ("si_sdr", "SI-SDR dB", "{:.1f}", "higher"),
    ("level_change_db", "level dB", "{:+.2f}", "0"),
    ("visqol", "ViSQOL", "{:.2f}", "higher"),
    ("pesq_wb", "PESQ-WB", "{:.2f}", "higher"),
    ("stoi", "STOI", "{:.3f}", "higher"),
    ("pitch_median_cents", "pitch err c", "{:.1f}", "lower"),
    ("pitch_within_50c", "within 50 c", "{:.0%}", "higher"),
    ("voicing_agreement", "voicing agr.", "{:.0%}", "higher"),
)
PROBE_COLUMNS = (
    ("pitch_error_cents", "pitch err c", "{:.1f}"),
    ("voiced_fraction", "voiced", "{:.0%}"),
    ("level_change_db", "level dB", "{:+.2f}"),
    ("vibrato_depth_kept", "vibrato kept", "{:.0%}"),
)


def _cell(value, fmt: str) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    return fmt.format(value)


def table(rows: dict[str, dict], rates: dict[str, float | None], order: list[str]) -> list[str]:
    lines = [
        "| system | files | " + " | ".join(h for _, h, _, _ in COLUMNS) + " |",
        "|---|---|" + "---|" * len(COLUMNS),
    ]
    for system in order:
        if system not in rows:
            continue
        row = dict(rows[system], rate_kbps=None if rates.get(system) is None else rates[system] / 1000)
        undefined = row.get("undefined", {})
        lines.append(
            f"| {system} | {row['files']} | "
            + " | ".join(
                "n/a" if row.get(k) is None and undefined.get(k) else _cell(row.get(k), f) for k, _, f, _ in COLUMNS
            )
            + " |"
        )
    return lines


def undefined_lines(per_file: list[dict]) -> list[str]:
    """One line per file on which some metrics have no meaning, naming them and why (the tables show n/a, or a mean
    over the other files)."""
    headers = {k: h for k, h, _, _ in COLUMNS}
    lines = []
    for rec in per_file:
        reasons: dict[str, set[str]] = {}
        for vals in rec["metrics"].values():
            for k, why in vals.get("undefined", {}).items():
                reasons.setdefault(why, set()).add(k)
        for why, keys in reasons.items():
            names = ", ".join(headers.get(k, k) for k in headers if k in keys)
            lines.append(f"- `{rec['file']}`: {names} {why}")
    return lines


def probe_table(probes: dict[str, dict[str, dict]], order: list[str]) -> list[str]:
    names = list(next(iter(probes.values())).keys()) if probes else []
    lines = ["| probe | " + " | ".join(order) + " |", "|---|" + "---|" * len(order)]
    for name in names:
        cells = []
        for system in order:
            rec = probes.get(system, {}).get(name)
            if rec is None:
                cells.append("-")
                continue
            parts = [f"{h} {_cell(rec.get(k), f)}" for k, h, f in PROBE_COLUMNS if k in rec]
            cells.append("<br>".join(parts))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def spectrogram_png(
    path: Path, rows: list[np.ndarray], sr: int, labels: list[str] | None = None, max_seconds: float = 6.0
) -> Path:
    """Log-mel (128 bands, n_fft 1024, hop 256) of each signal, one panel each, top to bottom, a shared 80 dB scale
    below the first signal's peak."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    from ..engine.model.spectral import colour_lut, mel_magnitude

    labels = labels or [f"signal {i}" for i in range(len(rows))]
    frames = int(max_seconds * sr / 256)
    dbs = [
        20 * np.log10(np.maximum(mel_magnitude(np.asarray(s, np.float32), sr, 1024, 256, 128), 1e-6))[:, :frames]
        for s in rows
    ]
    top = dbs[0].max()
    fig, axes = plt.subplots(len(rows), 1, figsize=(9, 1.3 * len(rows) + 0.4), sharex=True, squeeze=False)
    for ax, db, label in zip(axes[:, 0], dbs, labels):
        ax.imshow(
            db,
            origin="lower",
            aspect="auto",
            vmin=top - 80,
            vmax=top,
            cmap=ListedColormap(colour_lut() / 255.0),
            extent=(0, db.shape[1] * 256 / sr, 0, 128),
        )
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
        ax.set_yticks([])
    axes[-1, 0].set_xlabel("seconds")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return Path(path)


def rate_plane_png(path: Path, overall: dict[str, dict], rates: dict[str, float | None], model: str) -> Path:
    """Quality against bitrate, one panel per metric (mel distance, ViSQOL, pitch within 50 cents), log rate axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = (
        ("mel_distance", "mel distance (lower is better)"),
        ("visqol", "ViSQOL (higher is better)"),
        ("pitch_within_50c", "voiced frames within 50 cents"),
    )
    fig, axes = plt.subplots(1, len(panels), figsize=(13, 3.8))
    for ax, (key, title) in zip(axes, panels):
        for system, row in overall.items():
            rate, value = rates.get(system), row.get(key)
            if rate is None or value is None or system.startswith(model + "_"):  # variants share the model's rate
                continue
            bold = system == model
            ax.scatter(
                [rate / 1000],
                [value],
                s=80 if bold else 40,
                marker="*" if bold else "o",
                color="crimson" if bold else "steelblue",
                zorder=3,
            )
            ax.annotate(system, (rate / 1000, value), fontsize=7, xytext=(4, 3), textcoords="offset points")
        ax.set_xscale("log")
        ax.set_xlabel("bit rate, kbit/s (log)")
        ax.set_title(title, fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return Path(path)


def markdown(r: dict) -> str:
    order = r["systems"]
    rates = r["rates_bps"]
    lines = [
        f"# Evaluation: {r['name']} ({r['family']}, step {r['step']})",
        "",
        f"{r['files']} files, {r['seconds']:.1f} s of audio from `{r['data']}`; {r['runtime_seconds']} s to "
        f"evaluate. `model` is the bundle's output exactly as `latentsynth-render` plays it ({r['model_path']}).",
        "",
        "Systems: " + "; ".join(f"`{s}` {r['system_notes'][s]}" for s in order if s in r["system_notes"]),
        "",
        "Better: mel, stft, pitch error and kbit/s lower; SI-SDR, ViSQOL, PESQ, STOI, within-50-cents and "
        "voicing agreement higher; level change nearest 0. PESQ-WB and STOI are computed on speech only; pitch on "
        "pitched categories (speech, music, instrument), pooled over their voiced frames. No single number "
        "decides: they disagree.",
        "",
        "## Information rate",
        "",
    ]
    lines += [
        f"- `{s}`: "
        + ("-" if rates.get(s) is None else f"{rates[s] / 1000:.3g} kbit/s")
        + (f" ({r['rate_notes'][s]})" if s in r.get("rate_notes", {}) else "")
        for s in order
    ]
    lines += ["", "![quality against bit rate](rate_plane.png)", "", "## Overall", ""]
    lines += table(r["overall"], rates, order)
    undefined = undefined_lines(r["per_file"])
    if undefined:
        lines += [
            "",
            "Metrics with no meaning on these files (n/a in a table, or left out of its mean):",
            "",
        ] + undefined
    lines += ["", "## Per category", ""]
    for cat, c in r["by_category"].items():
        lines += [f"### {cat} ({c['files']} files, {c['seconds']} s)", ""] + table(c["systems"], rates, order) + [""]
    if r.get("probes"):
        lines += [
            "## Probes",
            "",
            "2 s each at -12 dBFS RMS, scored on the middle 1.5 s against the known pitch and "
            "level (vibrato: 30 cents at 5 Hz around 330 Hz; 'kept' is the output's depth over the input's).",
            "",
        ]
        lines += probe_table(r["probes"], [s for s in order if s in r["probes"]]) + [""]
    if "codebook_usage" in r:
        lines += [
            "## Codebook",
            "",
            f"{r['groups']} group(s) of {r['codebook_size']} codes over {r['frames']} frames: "
            f"usage {r['codebook_usage']:.3f}, perplexity {r['codebook_perplexity']:.1f}.",
            "",
        ]
    if "active_units" in r:
        lines += [
            "## Active units",
            "",
            f"A unit is active when the variance of its posterior mean over the data "
            f"exceeds {r['active_unit_threshold']}.",
            "",
        ]
        lines += [f"- level `{n}`: {au['active']} of {au['dim']} active" for n, au in r["active_units"].items()] + [""]
    images = [x for x in r["per_file"] if "image" in x]
    if images:
        lines += ["## Spectrograms", "", "Log-mel, 80 dB range below the input's peak, first 6 s.", ""]
        for x in images:
            lines += [f"**{x['file']}**", "", f"![{x['file']}]({x['image']})", ""]
    lines += [
        "## Per file",
        "",
        "| file | category | s | " + " | ".join(f"{s} mel" for s in order) + " |",
        "|---|---|---|" + "---|" * len(order),
    ]
    for x in r["per_file"]:
        cells = [_cell(x["metrics"].get(s, {}).get("mel_distance"), "{:.3f}") for s in order]
        lines.append(f"| {x['file']} | {x['category']} | {x['seconds']:.1f} | " + " | ".join(cells) + " |")
    if r["skipped"]:
        lines += ["", "Skipped: " + "; ".join(f"{s['file']} ({s['reason']})" for s in r["skipped"])]
    return "\n".join(lines) + "\n"


__all__ = ["markdown", "rate_plane_png", "spectrogram_png", "LOWER_IS_BETTER"]
