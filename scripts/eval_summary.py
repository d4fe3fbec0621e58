"""Print the markdown tables of docs/factory.md from latentsynth-eval reports (metrics.json), one row per bundle.

    python -m scripts.eval_summary docs/eval/factory-default docs/eval/factory-mel-vae-256 ... [--peers-from DIR]

Tables: overall (each bundle's ``model`` and, from the first report or ``--peers-from``, every peer), per category
(mel / stft / ViSQOL, and PESQ-WB / STOI / pitch where they apply), and the probes of each bundle.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

COLS = (
    ("rate", "kbit/s", "{:.3g}"),
    ("mel_distance", "mel", "{:.3f}"),
    ("stft_distance", "stft", "{:.3f}"),
    ("level_change_db", "level dB", "{:+.1f}"),
    ("visqol", "ViSQOL", "{:.2f}"),
    ("pesq_wb", "PESQ-WB", "{:.2f}"),
    ("stoi", "STOI", "{:.3f}"),
    ("pitch_median_cents", "pitch err c", "{:.1f}"),
    ("pitch_within_50c", "within 50 c", "{:.0%}"),
    ("voicing_agreement", "voicing", "{:.0%}"),
)


def cell(v, fmt: str) -> str:
    return "-" if v is None else fmt.format(v)


def row(name: str, vals: dict, rate: float | None) -> str:
    vals = dict(vals, rate=None if rate is None else rate / 1000)
    return f"| {name} | " + " | ".join(cell(vals.get(k), f) for k, _, f in COLS) + " |"


def header(first: str) -> list[str]:
    return [f"| {first} | " + " | ".join(h for _, h, _ in COLS) + " |", "|---|" + "---|" * len(COLS)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("reports", nargs="+", type=Path)
    p.add_argument("--peers-from", type=Path, default=None)
    a = p.parse_args(argv)
    reports = {d.name.removeprefix("factory-"): json.loads((d / "metrics.json").read_text()) for d in a.reports}
    peer_src = json.loads((a.peers_from / "metrics.json").read_text()) if a.peers_from else next(iter(reports.values()))
    peers = [s for s in peer_src["systems"] if not s.startswith("model")]
    out = ["### Overall", ""] + header("system")
    for name, r in reports.items():
        out.append(row(f"**{name}**", r["overall"]["model"], r["rates_bps"].get("model")))
    for s in peers:
        out.append(row(s, peer_src["overall"][s], peer_src["rates_bps"].get(s)))
    cats = list(peer_src["by_category"])
    for cat in cats:
        out += [
            "",
            f"### {cat} ({peer_src['by_category'][cat]['files']} files, {peer_src['by_category'][cat]['seconds']} s)",
            "",
        ] + header("system")
        for name, r in reports.items():
            c = r["by_category"].get(cat)
            if c:
                out.append(row(f"**{name}**", c["systems"]["model"], r["rates_bps"].get("model")))
        for s in peers:
            out.append(row(s, peer_src["by_category"][cat]["systems"][s], peer_src["rates_bps"].get(s)))
    probe_names = list(peer_src["probes"]["model"])
    out += [
        "",
        "### Probes (pitch error in cents / level change in dB; vibrato: depth kept)",
        "",
        "| system | " + " | ".join(probe_names) + " |",
        "|---|" + "---|" * len(probe_names),
    ]

    def probe_cells(recs: dict) -> str:
        cells = []
        for n in probe_names:
            r = recs[n]
            txt = ""
            if "pitch_error_cents" in r:
                txt = "unvoiced / " if r["pitch_error_cents"] is None else f"{r['pitch_error_cents']:.0f} c / "
            txt += cell(r["level_change_db"], "{:+.1f} dB")
            if r.get("vibrato_depth_kept") is not None:
                txt += f" / {r['vibrato_depth_kept']:.0%}"
            cells.append(txt)
        return " | ".join(cells)

    for name, r in reports.items():
        out.append(f"| **{name}** | " + probe_cells(r["probes"]["model"]) + " |")
    for s in peers:
        out.append(f"| {s} | " + probe_cells(peer_src["probes"][s]) + " |")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
