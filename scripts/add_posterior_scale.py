"""Give bundles exported before the posterior-scale output their '<level>_scale' encoder outputs and a KL rate.

    python scripts/add_posterior_scale.py BUNDLE [BUNDLE ...] --data AUDIO_DIR [--seconds 600]

Export now writes both (``export/onnx_parts.py``); this upgrades a shipped Gaussian bundle without its checkpoint.
In the exported graph each level's latent is the first output of a ``Split`` of the encoder's last convolution into
(mean, pre-softplus scale), exactly as ``models.bottleneck.GaussianBottleneck.split`` computes it; the script adds
``Softplus(scale) + 1e-4`` as '<level>_scale', rewrites the checksums, and measures ``information_rate`` (the KL
from N(0, I), as export does) on up to ``--seconds`` of AUDIO_DIR cut into the bundle's windows. Bundles whose
levels do not come from such a Split are left alone, with a message; FSQ bundles get their nominal code rate.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from desktop.engine.audiofile import find_audio_files, load_audio, resample  # noqa: E402
from desktop.engine.bundle import MANIFEST_NAME, load_bundle, sha256_file  # noqa: E402
from desktop.evaluation.rate import code_rate, kl_bits  # noqa: E402


def add_scale_outputs(encoder: Path, levels: list[str]) -> dict[str, str]:
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(str(encoder))
    g = model.graph
    have = {o.name for o in g.output}
    added = {}
    for name in levels:
        out = f"{name}_scale"
        if out in have:
            added[name] = out
            continue
        split = [n for n in g.node if n.op_type == "Split" and len(n.output) == 2 and n.output[0] == name]
        if len(split) != 1:
            raise SystemExit(
                f"{encoder}: level '{name}' is not the first output of a 2-way Split; not a Gaussian "
                "encoder this script knows"
            )
        raw = split[0].output[1]
        eps = helper.make_tensor(f"{out}_eps", TensorProto.FLOAT, [], [1e-4])
        g.initializer.append(eps)
        g.node.append(helper.make_node("Softplus", [raw], [f"{out}_softplus"], name=f"{out}_softplus_node"))
        g.node.append(helper.make_node("Add", [f"{out}_softplus", f"{out}_eps"], [out], name=f"{out}_add"))
        like = next(o for o in g.output if o.name == name)
        vi = onnx.ValueInfoProto()
        vi.CopyFrom(like)
        vi.name = out
        g.output.append(vi)
        added[name] = out
    onnx.checker.check_model(model)
    onnx.save(model, str(encoder))
    return added


def measure_rate(bundle_dir: Path, data: Path, seconds: float) -> dict:
    import onnxruntime as ort

    bundle = load_bundle(bundle_dir)
    m = bundle.manifest
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(bundle.part_path("encoder")), opts, providers=["CPUExecutionProvider"])
    bits = {lv.name: [] for lv in m.levels}
    total = 0.0
    for path in find_audio_files(data):
        a = load_audio(path)
        x = resample(a.mono(), a.sample_rate, m.sample_rate)
        for start in range(0, max(1, len(x) - m.window + 1), m.window):
            w = x[start : start + m.window]
            w = np.pad(w, (0, m.window - len(w) + (-m.window) % m.pad_multiple)).astype(np.float32)
            gain = m.normalization.gain_for(float(np.sqrt(np.mean(w**2))))
            names = [lv.name for lv in m.levels] + [lv.scale_output for lv in m.levels]
            outs = dict(zip(names, sess.run(names, {"audio": (w * gain)[None, None]})))
            for lv in m.levels:
                bits[lv.name].append(kl_bits(outs[lv.name][0], outs[lv.scale_output][0]))
            total += m.window / m.sample_rate
            if total >= seconds:
                break
        if total >= seconds:
            break
    per = {n: float(np.concatenate(v).mean()) for n, v in bits.items()}
    bps = sum(per[lv.name] * m.sample_rate / lv.hop for lv in m.levels)
    return {
        "bits_per_second": round(bps, 2),
        "source": "kl",
        "bits_per_frame": {n: round(b, 3) for n, b in per.items()},
        "note": f"KL of the posterior from N(0, I) over {total:.0f} s of {data.name} in 1-s windows "
        "(added after export by scripts/add_posterior_scale.py)",
    }


def upgrade(bundle_dir: Path, data: Path, seconds: float) -> dict | None:
    bundle = load_bundle(bundle_dir)
    m = bundle.manifest
    mpath = bundle_dir / MANIFEST_NAME
    data_json = json.loads(mpath.read_text())
    nominal = code_rate(m)
    if nominal is not None:  # FSQ: the rate is the code grid's, no scale output to add
        data_json["information_rate"] = {
            **nominal,
            "source": "codes",
            "bits_per_frame": {m.levels[0].name: nominal["bits_per_frame"]},
            "note": "nominal: every code of the grid equally likely",
        }
        mpath.write_text(json.dumps(data_json, indent=1) + "\n")
        load_bundle(bundle_dir)
        return data_json["information_rate"]
    try:
        added = add_scale_outputs(bundle.part_path("encoder"), [lv.name for lv in m.levels])
    except SystemExit as exc:
        print(f"skipped: {exc}", file=sys.stderr)
        return None
    for lv in data_json["latent"]["levels"]:
        lv["scale_output"] = added[lv["name"]]
    enc = m.parts["encoder"]
    data_json["files"][enc]["sha256"] = sha256_file(bundle_dir / enc)
    mpath.write_text(json.dumps(data_json, indent=1) + "\n")
    rate = measure_rate(bundle_dir, data, seconds)
    data_json["information_rate"] = rate
    mpath.write_text(json.dumps(data_json, indent=1) + "\n")
    load_bundle(bundle_dir)
    return rate


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bundles", nargs="+", type=Path)
    p.add_argument("--data", type=Path, required=True, help="audio like the training data (the corpus train split)")
    p.add_argument("--seconds", type=float, default=600.0)
    a = p.parse_args(argv)
    for b in a.bundles:
        print(json.dumps({"bundle": str(b), "information_rate": upgrade(b, a.data, a.seconds)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
