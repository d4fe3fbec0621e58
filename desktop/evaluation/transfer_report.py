"""report.md, the targets table and the targets' verdicts of the transfer evaluation (``transfer.py``)."""

from __future__ import annotations

TARGETS = {  # issue 25's targets: (key in 'summary', comparison, bound)
    "transfer_within_50c": (">=", 0.95),
    "loudness_correlation": (">=", 0.9),
    "output_target_share": (">=", 0.8),
    "input_target_share": ("<=", 0.2),
    "heldout_pitch_median_cents": ("<=", 10.0),
}


def targets(r: dict) -> dict:
    s = r["summary"]
    out = {}
    for key, (op, bound) in TARGETS.items():
        v = s.get(key)
        ok = None if v is None else (v >= bound if op == ">=" else v <= bound)
        out[key] = {"value": v, "target": f"{op} {bound}", "met": ok}
    h = r.get("heldout")
    if h is not None:
        a, b = h["model"]["mel_distance"], h["default"]["mel_distance"]
        out["heldout_mel_better_than_default"] = {
            "value": a,
            "target": f"< default {b:.3f}" if b is not None else "< default",
            "met": None if a is None or b is None else a < b,
        }
    return out


def _f(v, fmt: str = ".3f") -> str:
    return "n/a" if v is None else format(v, fmt)


def _md(header: str, rows: list[list[str]]) -> list[str]:
    cols = header.split(",")
    return ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)] + ["| " + " | ".join(r) + " |" for r in rows]


def table(r: dict) -> list[str]:
    met = {None: "n/a", True: "yes", False: "NO"}
    return _md(
        "target,value,wanted,met", [[k, _f(t["value"]), t["target"], met[t["met"]]] for k, t in r["targets"].items()]
    )


PER_FILE = (  # report.md's per-file columns: (heading, key, format)
    ("median Hz", "input_median_hz", ".0f"),
    ("shift st", "transpose_applied", "+.0f"),
    ("dB offset", "loudness_applied_db", "+.0f"),
    ("median c", "median_cents", ".1f"),
    ("RPA", "raw_pitch_accuracy", ".3f"),
    ("RCA", "raw_chroma_accuracy", ".3f"),
    ("outliers", "outlier_share", ".3f"),
    ("loudness r", "loudness_correlation", ".3f"),
    ("target share", "output_target_share", ".3f"),
)


def markdown(r: dict) -> str:
    s = r["summary"]
    fd = lambda k: _f(s.get(f"frechet_{k}_second_source"), ".1f")  # noqa: E731
    lines = [
        f"# Transfer: {r['name']} ({r['instrument']}, family {r['family']})",
        "",
        f"Inputs: `{r['inputs']}` ({r['files']} files); second source: `{r['second_source']}`; "
        f"trained range: {r['trained_range']}.",
        "",
        *table(r),
        "",
        "## Transfer (input-voiced frames, after the octave mapping)",
        "",
        f"Median cents {_f(s['transfer_median_cents'], '.1f')}, raw pitch accuracy "
        f"{_f(s['transfer_raw_pitch_accuracy'])}, raw chroma accuracy {_f(s['transfer_raw_chroma_accuracy'])}, "
        f"outliers {_f(s['transfer_outlier_share'])}. Of the input-voiced frames the output leaves "
        f"{_f(s['transfer_output_unvoiced_share'])} unvoiced and the bundle's own encoder calls "
        f"{_f(s.get('transfer_encoder_unvoiced_share'))} unvoiced; where the output is voiced, "
        f"{_f(s['transfer_within_50c_where_output_voiced'])} are within 50 cents. Loudness (RMS dB on the input's "
        f"voiced frames): correlation {_f(s['loudness_correlation'])}, mean |out - (in + offset)| "
        f"{_f(s['loudness_mad_db'], '.1f')} dB.",
        "",
        f"Timbre: {r['timbre_embedding']} Classes (segments, second sources "
        f"{', '.join(r.get('classifier_sources', []))}): {r['timbre_classes']}. Output segments per class: "
        f"{s['output_classes']}; the instrument's own held-out phrases (no model) assigned to it: "
        f"{_f(s.get('heldout_target_share'))}. Frechet distance to the second source: outputs {fd('outputs')}, raw inputs "
        f"{fd('inputs')}, the training source's held-out audio {fd('heldout')}; outputs to each second source: "
        + ", ".join(f"{k} {_f(v, '.1f')}" for k, v in s.get("frechet_outputs_by_source", {}).items())
        + ".",
        "",
        *_md(
            "file," + ",".join(c[0] for c in PER_FILE),
            [[p["file"]] + [_f(p[k], f) for _, k, f in PER_FILE] for p in r["per_file"]],
        ),
    ]
    h = r.get("heldout")
    if h is not None:
        keys = (
            ("mel_distance", ".3f"),
            ("stft_distance", ".3f"),
            ("level_change_db", "+.1f"),
            ("pitch_median_cents", ".1f"),
            ("pitch_within_50c", ".3f"),
        )
        rows = [[n] + [_f(h[n][k], f) for k, f in keys] for n in ("model", "default")]
        own = ", ".join(f"{k} {v:g}" for k, v in h.get("controls", {}).items())
        lines += [
            "",
            f"## Held-out phrases ({h['files']} files)" + (f", played with {own}" if own else ""),
            "",
            *_md("system,mel,stft,level dB,median c,within 50c", rows),
        ]
    if r.get("image"):
        lines += ["", f"![input and output]({r['image']})"]
    return "\n".join(lines) + "\n"
