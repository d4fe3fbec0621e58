"""The family contract (models/family.py), for every registered family at tiny width: its config dataclass
matches its constructor, and forward, one training step and export (ONNX, run by onnxruntime) go through the
contract's methods and declarations alone."""

import dataclasses
import inspect

import numpy as np
import onnxruntime as ort
import pytest
import torch

from export.onnx_parts import export_parts
from export.streaming import export_streaming_parts, run_blocks, state_specs
from familykit import tiny
from models import FAMILIES, AudioAutoencoder, build_model, model_config
from models.configs import CONFIGS
from trainer.config import LossConfig
from trainer.losses import ReconstructionLoss

pytestmark = pytest.mark.slow  # launches processes, trains/exports or plays in real time


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_config_dataclass_matches_the_constructor(family):
    cls = FAMILIES[family]
    assert issubclass(cls, AudioAutoencoder) and cls.family == family
    params = set(inspect.signature(cls.__init__).parameters) - {"self"}
    fields = {f.name for f in dataclasses.fields(CONFIGS[family])} - {"family", "sample_rate"}
    assert fields <= params, f"{family}: config fields the constructor does not take: {fields - params}"
    with pytest.raises(ValueError, match="unknown config key"):
        model_config(family, no_such_setting=1)


@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_forward_one_step_and_export_through_the_contract(family, tmp_path):
    torch.manual_seed(0)
    model = build_model(tiny(family, n_mels=32))
    hop = max(h for _, _, h in model.levels)
    x = torch.randn(2, 1, hop * 8) * 0.1
    # one training step through forward() and the trainer's loss
    y, aux = model(x)
    assert y.shape == x.shape
    loss, _ = ReconstructionLoss(LossConfig(), 22050)(
        y, x, {k: v for k, v in aux.items() if k.startswith(("loss/", "stats/"))}, step=10000
    )
    before = [p.detach().clone() for p in model.parameters()]
    loss.backward()
    torch.optim.AdamW(model.parameters(), lr=1e-3).step()
    assert sum(float((p.detach() - b).abs().sum()) for p, b in zip(model.parameters(), before)) > 0
    assert set(model.components()) >= {"encoder", "decoder"}
    model.eval()
    if model.gaussian:
        post = model.posterior(x)
        assert set(post) == {n for n, _, _ in model.levels}
    # export through the contract: window parts for every family, block steps for the causal ones
    audio = (np.random.default_rng(0).standard_normal((1, 1, hop * 8)) * 0.1).astype(np.float32)
    with torch.no_grad():
        ref = model.decode(model.quantize(model.encode(torch.from_numpy(audio)))).numpy()
    parts = export_parts(model, tmp_path, has_quantizer=model.has_quantizer)
    assert ("quantizer" in parts) == model.has_quantizer
    enc = ort.InferenceSession(str(tmp_path / parts["encoder"]), providers=["CPUExecutionProvider"])
    dec = ort.InferenceSession(str(tmp_path / parts["decoder"]), providers=["CPUExecutionProvider"])
    names = [n for n, _, _ in model.levels]
    outputs = [o.name for o in enc.get_outputs()]
    assert outputs[: len(names)] == names and any(o.endswith("_scale") for o in outputs) == model.gaussian
    lat = dict(zip(names, enc.run(names, {"audio": audio})))
    if "quantizer" in parts:
        q = ort.InferenceSession(str(tmp_path / parts["quantizer"]), providers=["CPUExecutionProvider"])
        lat = dict(zip(names, q.run([f"{n}_q" for n in names], lat)))
    out = dec.run(["audio"], lat)[0]
    assert out.shape == ref.shape and np.abs(out - ref).max() < 1e-3 * max(1.0, np.abs(ref).max())
    if model.causal:
        sdir = tmp_path / "stream"
        sdir.mkdir()
        sparts, specs = export_streaming_parts(model, sdir)
        assert [s.name for s in specs] == [s.name for s in state_specs(model)]
        streamed = run_blocks(sdir, sparts, specs, audio.reshape(-1), 256, names)
        offline = run_blocks(sdir, sparts, specs, audio.reshape(-1), audio.size, names)
        assert streamed.shape == offline.shape == (audio.size,)
        # an oscillator's phase sums float32 rounding differently per block: export checks such families per part
        assert np.abs(streamed - offline).max() < (1e-3 if model.integrates_phase else 1e-4)
