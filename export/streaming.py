"""Streaming export of a causal model: one ONNX graph per part with its state tensors as explicit inputs and outputs.

Encoder: ``audio`` float32[B, 1, N] + its states -> ``z`` (+ ``z_scale``) + the next states; decoder: ``z`` + its
states -> ``audio`` + the next states. State inputs are named as in ``model.stream_state_shapes()`` with a
``state.`` prefix, outputs add ``.next``. N (any multiple of the latent hop) and B are dynamic, so the same graph
runs a 256-sample block live and, from zero states, a whole file at once. Weights are stored as float16 and cast
to float32 when onnxruntime loads the graph (a causal default is 4.4 MB instead of 8.7); the torch model is
rounded the same way first, so the parity checks compare like with like. The STFT front end then runs as an FFT
(export/fast_graph.py: a live step reads 4.2 MB fewer weights).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from core.bundle import StateSpec, Streaming
from core.session import open_session
from core.streaming import run_part

from .fast_graph import speed_up_file
from .onnx_parts import _export, fold_weight_norm, scale_outputs

STREAM_PARITY_TOLERANCE = 1e-4  # block-by-block onnxruntime against the same graph over the whole signal
FP16_MIN_ELEMENTS = 1024  # smaller initializers (biases, scales) stay float32: they cost nothing


def state_specs(model: nn.Module) -> tuple[StateSpec, ...]:
    return tuple(
        StateSpec(part, "state." + name, (1, c, f))
        for part, shapes in model.stream_state_shapes().items()
        for name, c, f in shapes
    )


class StreamEncoderPart(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.names = [name for name, _, _ in model.levels]
        self.scales = bool(scale_outputs(model))

    def forward(self, audio: torch.Tensor, *states: torch.Tensor):
        post, new = self.model.posterior_stream(audio, list(states))
        outs = tuple(post[n][0] for n in self.names)
        if self.scales:
            outs += tuple(post[n][1] for n in self.names)
        return outs + tuple(new)


class StreamDecoderPart(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.names = [name for name, _, _ in model.levels]

    def forward(self, *args: torch.Tensor):
        k = len(self.names)
        audio, new = self.model.decode_stream(dict(zip(self.names, args[:k])), list(args[k:]))
        return (audio,) + tuple(new)


def round_weights_to_fp16(model: nn.Module) -> nn.Module:
    """Round every floating parameter to float16 and back, in place: the torch reference then holds exactly the
    numbers the bundle stores."""
    with torch.no_grad():
        for p in model.parameters():
            if p.numel() >= FP16_MIN_ELEMENTS:
                p.copy_(p.half().float())
    return model


def store_weights_fp16(path: Path) -> int:
    """Rewrite float32 initializers of at least FP16_MIN_ELEMENTS values that float16 holds exactly (the rounded
    weights) as float16 + a Cast node (onnxruntime folds the Cast at load); others (fixed buffers such as the mel
    filters) stay float32. Returns the count converted."""
    proto = onnx.load(str(path))
    graph = proto.graph
    keep, casts, converted = [], [], 0
    for init in graph.initializer:
        value = numpy_helper.to_array(init)
        if init.data_type != TensorProto.FLOAT or value.size < FP16_MIN_ELEMENTS:
            keep.append(init)
            continue
        half = value.astype(np.float16)
        if not np.array_equal(half.astype(np.float32), value):  # a fixed buffer (mel filters): keep it exact
            keep.append(init)
            continue
        stored = init.name + ".fp16"
        keep.append(numpy_helper.from_array(half, stored))
        casts.append(
            helper.make_node("Cast", [stored], [init.name], name=init.name + "/to_float", to=TensorProto.FLOAT)
        )
        converted += 1
    del graph.initializer[:]
    dense = []
    for init in keep:  # mostly-zero fixed matrices (mel filters: 1008 of 65664 values) as sparse initializers
        value = numpy_helper.to_array(init)
        if init.data_type == TensorProto.FLOAT and value.size >= FP16_MIN_ELEMENTS and np.mean(value != 0) < 0.1:
            idx = np.flatnonzero(value)
            graph.sparse_initializer.append(
                helper.make_sparse_tensor(
                    numpy_helper.from_array(value.reshape(-1)[idx].astype(np.float32), init.name),
                    numpy_helper.from_array(idx.astype(np.int64), init.name + ".indices"),
                    list(value.shape),
                )
            )
        else:
            dense.append(init)
    graph.initializer.extend(dense)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)
    # the exporter's per-node source locations and intermediate shapes: ~120 kB the player never reads
    for node in graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
    del graph.value_info[:]
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    return converted


def export_streaming_parts(model: nn.Module, out_dir: Path) -> tuple[dict[str, str], tuple[StateSpec, ...]]:
    """Write the streaming encoder.onnx and decoder.onnx; returns (part -> file, state specs). Folds weight norm and
    rounds ``model``'s weights to float16 IN PLACE: pass a model loaded for export (it is then the reference)."""
    model = round_weights_to_fp16(fold_weight_norm(model))
    specs = state_specs(model)
    names = [name for name, _, _ in model.levels]
    hop = model.levels[0][2]
    batch = torch.export.Dim("batch", min=1, max=1024)
    frames = torch.export.Dim("frames", min=1, max=1 << 20)
    enc_states = [s for s in specs if s.part == "encoder"]
    dec_states = [s for s in specs if s.part == "decoder"]
    # example batch 2, 8 frames: torch.export specialises dimensions of size 1
    audio = torch.randn(2, 1, hop * 8) * 0.1
    es = tuple(torch.zeros(2, *s.shape[1:]) for s in enc_states)
    ds = tuple(torch.zeros(2, *s.shape[1:]) for s in dec_states)
    with torch.no_grad():
        latents = model.encode(audio)
    enc_out = names + list(scale_outputs(model).values()) + [s.output for s in enc_states]
    _export(
        StreamEncoderPart(model),
        (audio, *es),
        out_dir / "encoder.onnx",
        ["audio"] + [s.name for s in enc_states],
        enc_out,
        ({0: batch, 2: hop * frames}, tuple({0: batch} for _ in es)),
    )
    lat = tuple(latents[n] for n in names)
    _export(
        StreamDecoderPart(model),
        lat + ds,
        out_dir / "decoder.onnx",
        names + [s.name for s in dec_states],
        ["audio"] + [s.output for s in dec_states],
        (tuple({0: batch, 2: frames} for _ in lat) + tuple({0: batch} for _ in ds),),
    )
    for part in ("encoder.onnx", "decoder.onnx"):
        store_weights_fp16(out_dir / part)
        # the STFT's framing Conv -> an FFT, kept only where it matches the graph it replaces (1e-5)
        speed_up_file(out_dir / part, hop, strict=False)
    return {"encoder": "encoder.onnx", "decoder": "decoder.onnx"}, specs


def run_blocks(
    bundle_dir: Path,
    parts: dict[str, str],
    specs: tuple[StateSpec, ...],
    audio: np.ndarray,
    block: int,
    level_names: list[str],
) -> np.ndarray:
    """onnxruntime, block by block from zero states: float32[T] (T a multiple of ``block``) -> float32[T].
    ``block`` >= T runs the whole signal in one call (the offline output). Each part runs through
    ``core.streaming.run_part`` (the encoder's states never depend on the decoder's, so running the encoder over
    every block first gives the latents and output that alternating the parts gives)."""
    enc, dec = open_session(bundle_dir / parts["encoder"]), open_session(bundle_dir / parts["decoder"])
    x = np.asarray(audio, np.float32)[None, None]
    lat = run_part(enc, {"audio": x}, level_names, [s for s in specs if s.part == "encoder"], block)
    frames = lat[0].shape[-1]
    per = max(1, frames * block // x.shape[-1])  # the latent frames one encoder block gives
    y = run_part(dec, dict(zip(level_names, lat)), ["audio"], [s for s in specs if s.part == "decoder"], per)[0]
    return y[0, 0]


def _parity_input(model: nn.Module, audio: np.ndarray, blocks: tuple[int, ...]) -> tuple[list[str], int, np.ndarray]:
    """(level names, latent hop, ``audio`` cut to a multiple of the largest block and the hop, float32)."""
    hop = model.levels[0][2]
    t = audio.shape[0] - audio.shape[0] % max(max(blocks), hop)
    return [name for name, _, _ in model.levels], hop, np.ascontiguousarray(audio[:t], np.float32)


def streaming_parity(
    model: nn.Module,
    bundle_dir: Path,
    parts: dict[str, str],
    specs: tuple[StateSpec, ...],
    audio: np.ndarray,
    blocks: tuple[int, ...],
) -> dict[str, float]:
    """Max abs errors on real audio float32[T]: 'torch' = the graphs over the whole signal against torch's
    ``decode(encode(.))`` (end to end); 'block_<N>' = onnxruntime block by block against the whole-signal run."""
    names, hop, audio = _parity_input(model, audio, blocks)
    t = audio.shape[0]
    offline = run_blocks(bundle_dir, parts, specs, audio, t, names)
    with torch.no_grad():
        ref = model.decode(model.encode(torch.from_numpy(audio)[None, None]))[0, 0].numpy()
    errors = {"torch": float(np.abs(offline - ref).max())}
    for n in blocks:
        errors[f"block_{n}"] = float(np.abs(run_blocks(bundle_dir, parts, specs, audio, n, names) - offline).max())
    return errors


def streaming_parity_by_part(
    model: nn.Module,
    bundle_dir: Path,
    parts: dict[str, str],
    specs: tuple[StateSpec, ...],
    audio: np.ndarray,
    blocks: tuple[int, ...],
) -> tuple[dict[str, float], dict[str, float]]:
    """Parity for a model whose decoder integrates a latent over time (``model.integrates_phase``: an oscillator
    whose phase sums f0). Such a decoder turns a 1e-7 difference in f0 (float32 rounding that differs between one
    long onnxruntime call and many short ones) into a phase offset that grows with time, so the end-to-end
    difference is not a property of the graphs. Each part is checked on identical inputs instead.

    Returns (gated, drift). gated: 'encoder' / 'decoder' = onnxruntime over the whole signal against torch (the
    encoder's relative to max(1, max |latent|)); 'block_<N>_encoder' = its latents block by block against the
    whole signal (relative likewise); 'block_<N>_decoder' = the decoder block by block against the whole signal on
    the same (whole-signal) latents. drift: 'drift_block_<N>' = end to end, block by block against the whole
    signal (reported, not gated)."""
    names, hop, audio = _parity_input(model, audio, blocks)
    t = audio.shape[0]
    frames = t // hop
    enc, dec = open_session(bundle_dir / parts["encoder"]), open_session(bundle_dir / parts["decoder"])
    e_specs = [s for s in specs if s.part == "encoder"]
    d_specs = [s for s in specs if s.part == "decoder"]
    x = audio[None, None]
    whole = run_part(enc, {"audio": x}, names, e_specs, t)
    lat = dict(zip(names, whole))
    y_whole = run_part(dec, lat, ["audio"], d_specs, frames)[0]

    def rel(a: list[np.ndarray], b: list[np.ndarray]) -> float:
        # the model may say which latent values matter (sf: pitch where it is voiced; elsewhere the gate mutes it
        # and a near-tie between pitch bins may resolve either way)
        weights = model.parity_weights(dict(zip(names, b)))
        return max(
            float((np.abs(u - v) * weights.get(n, 1.0)).max()) / max(1.0, float(np.abs(v).max()))
            for n, u, v in zip(names, a, b)
        )

    with torch.no_grad():
        ref_lat = model.encode(torch.from_numpy(audio)[None, None])
        ref_y = model.decode({n: torch.from_numpy(lat[n]) for n in names})[0, 0].numpy()
    gated = {
        "encoder": rel(whole, [ref_lat[n].numpy() for n in names]),
        "decoder": float(np.abs(y_whole[0, 0] - ref_y).max()),
    }
    drift = {}
    for n in blocks:
        per = n // hop
        enc_blocks = run_part(enc, {"audio": x}, names, e_specs, per * hop)
        gated[f"block_{n}_encoder"] = rel(enc_blocks, whole)
        y_blocks = run_part(dec, lat, ["audio"], d_specs, per)[0]
        gated[f"block_{n}_decoder"] = float(np.abs(y_blocks - y_whole).max())
        y_e2e = run_part(dec, dict(zip(names, enc_blocks)), ["audio"], d_specs, per)[0]
        drift[f"drift_block_{n}"] = float(np.abs(y_e2e - y_whole).max())
    return gated, drift


def parity_audio(signals: list[np.ndarray], samples: int, target_dbfs: float = -20.0) -> np.ndarray:
    """``samples`` of real audio: the signals in order, concatenated, scaled to ``target_dbfs`` RMS (the level
    training chunks have), float32."""
    parts, have = [], 0
    for sig in signals:
        if have >= samples:
            break
        sig = np.asarray(sig, np.float32).reshape(-1)
        parts.append(sig[: samples - have])
        have += parts[-1].shape[0]
    if have < samples:
        raise ValueError(f"the parity check needs {samples} samples of audio; the data has {have}")
    audio = np.concatenate(parts)
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
    return (audio * (10 ** (target_dbfs / 20) / max(rms, 1e-9))).astype(np.float32)


def streaming_section(model: nn.Module, specs: tuple[StateSpec, ...], block: int, parity: float) -> Streaming:
    return Streaming(
        block=int(block),
        lookahead=int(model.lookahead),
        delay=int(model.delay),
        states=specs,
        parity_max_abs_error=parity,
    )
