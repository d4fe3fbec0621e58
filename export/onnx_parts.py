"""ONNX export of a model's parts: encoder (audio -> latents), optional quantizer, decoder (latents -> audio).

I/O names are the bundle contract: encoder input 'audio' float32[B, 1, T] and one output per latent level
(named by the level), then, for Gaussian models (``model.gaussian``: ``posterior(audio)``), one '<level>_scale'
output per level holding the posterior std (the information rate is read from it); quantizer and decoder take
those names; the quantizer's outputs are '<level>_q' (ONNX forbids an output named like an input); decoder output
'audio'. Optional extra outputs, after those (the engine asks for outputs by name, so they cost it nothing):
quantizer 'codes' int64[B, groups, F] when ``model.has_quantizer``; decoder outputs named by the keys of
``decode_extra(latents)`` when it returns any (the mel VAE's normalised log-mel 'mel'). The family contract:
models/family.py.
"""

from __future__ import annotations

import io
import logging
import warnings
from contextlib import redirect_stdout
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils import parametrize

from .onnx_bases import generate_fixed_bases


class EncoderPart(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.names = [name for name, _, _ in model.levels]

    def forward(self, audio: torch.Tensor):
        if self.model.gaussian:
            post = self.model.posterior(audio)
            return tuple(post[n][0] for n in self.names) + tuple(post[n][1] for n in self.names)
        latents = self.model.encode(audio)
        return tuple(latents[n] for n in self.names)


class QuantizerPart(EncoderPart):
    def forward(self, *latents: torch.Tensor):
        lat = dict(zip(self.names, latents))
        out = self.model.quantize(lat)
        codes = (self.model.codes(lat),) if self.model.has_quantizer else ()
        return tuple(out[n] for n in self.names) + codes


class DecoderPart(EncoderPart):
    def forward(self, *latents: torch.Tensor):
        lat = dict(zip(self.names, latents))
        audio = self.model.decode(lat)
        extra = self.model.decode_extra(lat)
        if not extra:
            return audio
        return (audio,) + tuple(extra[k] for k in sorted(extra))


def scale_outputs(model: nn.Module) -> dict[str, str]:
    """Level name -> the encoder output holding its posterior std (empty for models without ``posterior``)."""
    if not model.gaussian:
        return {}
    return {name: f"{name}_scale" for name, _, _ in model.levels}


def extra_decoder_outputs(model: nn.Module) -> list[str]:
    """Names of the decoder's outputs after 'audio' (sorted keys of ``decode_extra``)."""
    probe = {n: torch.zeros(1, d, 4 * max(h for _, _, h in model.levels) // h) for n, d, h in model.levels}
    with torch.no_grad():
        return sorted(model.decode_extra(probe))


def fold_weight_norm(model: nn.Module) -> nn.Module:
    """Bake weight-norm parametrizations into plain weights, IN PLACE (fewer ONNX ops, same numbers).

    In place because copies share the parametrized classes that removal edits: pass a model of its own.
    """
    model.eval()
    targets = [(m, list(m.parametrizations.keys())) for m in model.modules() if parametrize.is_parametrized(m)]
    for module, names in targets:
        for name in names:
            parametrize.remove_parametrizations(module, name, leave_parametrized=True)
    return model


class _NoTorchvisionNotice(logging.Filter):
    """torch.onnx's op registry says "torchvision is not installed. Skipping torchvision::nms" (and three more) on
    every export: we use no torchvision op, and eight such lines per export read as an error to a user."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("torchvision is not installed")


_REGISTRY_LOGGER = logging.getLogger("torch.onnx._internal.exporter._registration")


def _export(module: nn.Module, args: tuple, path: Path, input_names, output_names, dynamic_shapes) -> None:
    """torch.onnx.export (dynamo), then the fixed DFT bases turned from stored weights into in-graph nodes."""
    quiet = _NoTorchvisionNotice()
    _REGISTRY_LOGGER.addFilter(quiet)
    try:
        _export_quietly(module, args, path, input_names, output_names, dynamic_shapes)
    finally:
        _REGISTRY_LOGGER.removeFilter(quiet)
    if list(path.parent.glob(path.name + ".data")):
        raise RuntimeError(f"{path}: exporter wrote an external .data file; parts must be single files")
    generate_fixed_bases(path, module)


def _export_quietly(module: nn.Module, args: tuple, path: Path, input_names, output_names, dynamic_shapes) -> None:
    with warnings.catch_warnings(), redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            args,
            str(path),
            input_names=input_names,
            output_names=output_names,
            dynamic_shapes=dynamic_shapes,
            external_data=False,
            dynamo=True,
        )


def export_parts(model: nn.Module, out_dir: Path, has_quantizer: bool = False) -> dict[str, str]:
    """Write encoder.onnx, decoder.onnx (and quantizer.onnx); returns part -> file name. Folds ``model``'s
    weight norm in place: give it a model loaded for export only."""
    model = fold_weight_norm(model)
    names = [name for name, _, _ in model.levels]
    pad = max(hop for _, _, hop in model.levels)
    batch = torch.export.Dim("batch", min=1, max=1024)
    blocks = torch.export.Dim("blocks", min=2, max=1 << 20)
    # example batch 2: torch.export specialises dimensions of size 1
    audio = torch.randn(2, 1, pad * 16) * 0.1
    with torch.no_grad():
        latents = model.encode(audio)
    enc_shapes = ({0: batch, 2: pad * blocks},)
    lat_shapes = tuple({0: batch, 2: (pad // hop) * blocks} for _, _, hop in model.levels)
    parts = {"encoder": "encoder.onnx", "decoder": "decoder.onnx"}
    enc_out = names + list(scale_outputs(model).values())
    _export(EncoderPart(model), (audio,), out_dir / "encoder.onnx", ["audio"], enc_out, enc_shapes)
    lat_args = tuple(latents[n] for n in names)  # var-args: their dynamic shapes nest one level deeper
    if has_quantizer:
        q_out = [f"{n}_q" for n in names] + (["codes"] if model.has_quantizer else [])
        _export(QuantizerPart(model), lat_args, out_dir / "quantizer.onnx", names, q_out, (lat_shapes,))
        parts["quantizer"] = "quantizer.onnx"
    dec_out = ["audio"] + extra_decoder_outputs(model)
    _export(DecoderPart(model), lat_args, out_dir / "decoder.onnx", names, dec_out, (lat_shapes,))
    return parts
