"""The manifest's optional ``prior`` section: a learned causal model over a bundle's latent frames.

``prior.onnx`` is one frame step with explicit state:

    z float32[1, D] (the frame just played) + state.h float32[1, layers, hidden]
      -> logits float32[1, K], mean float32[1, K, D], scale float32[1, K, D], state.h.next

i.e. the next frame's distribution as a mixture of K diagonal Gaussians in the latent units the decoder reads.
The frame is one level's (``"level": "z"``), or several levels' side by side in the order given (``"levels":
["z", "control"]``; they must share one hop; ``core/prior_frames.py``), D the sum of their dims.
Zeros are the initial state. A styled prior (``"style_frames": S`` > 0) has a third input, ``style``
float32[1, 2D + 1]: the mean and std per dimension of the last S frames of what primed it, then 1
(``core.prior_frames.prior_style``), or all zeros for a generation with no prime; it is held for the whole
generation. The file is listed in ``files`` (checksummed) but not in ``parts``: players from
before the prior ignore the section and play the bundle as before; a bundle without the section has no prior.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

PRIOR_FILE = "prior.onnx"
PRIOR_KIND = "gru-gaussian-mixture"


@dataclass(frozen=True)
class PriorSpec:
    file: str
    levels: tuple[str, ...]  # the levels of a frame, in order (one for a single-level bundle)
    dim: int
    hidden: int
    layers: int
    mixtures: int
    style_frames: int = 0  # > 0: the input ``style`` is the last style_frames primed frames' (prior_style); 0: none
    kind: str = PRIOR_KIND
    parity_max_abs_error: float | None = None
    training: dict[str, Any] = field(default_factory=dict)  # a record (steps, CPU minutes, data): shown, not used

    @property
    def level(self) -> str:
        """The first (for a single-level prior, the only) level."""
        return self.levels[0]

    @property
    def state_shape(self) -> tuple[int, int, int]:
        return (1, self.layers, self.hidden)

    @property
    def inputs(self) -> list[str]:
        return ["z", "state.h"] + (["style"] if self.style_frames > 0 else [])

    def to_json(self) -> dict[str, Any]:
        data = {
            "file": self.file,
            "kind": self.kind,
            **({"level": self.levels[0]} if len(self.levels) == 1 else {"levels": list(self.levels)}),
            "dim": self.dim,
            "hidden": self.hidden,
            "layers": self.layers,
            "mixtures": self.mixtures,
            **({"style_frames": self.style_frames} if self.style_frames > 0 else {}),
            "inputs": self.inputs,
            "outputs": ["logits", "mean", "scale", "state.h.next"],
            "state": {"name": "state.h", "shape": list(self.state_shape), "dtype": "float32"},
            "training": dict(self.training),
        }
        if self.parity_max_abs_error is not None:
            data["parity_max_abs_error"] = self.parity_max_abs_error
        return data

    @classmethod
    def from_json(cls, data: Any) -> "PriorSpec":
        """ValueError with the field's name when the section is malformed (the caller names the file)."""
        if not isinstance(data, dict):
            raise ValueError("'prior' must be an object")
        try:
            parity = data.get("parity_max_abs_error")
            levels = data["levels"] if "levels" in data else [data["level"]]
            if not isinstance(levels, list) or not levels or not all(isinstance(v, str) for v in levels):
                raise ValueError("'prior.levels' must be a non-empty list of level names")
            spec = cls(
                file=str(data["file"]),
                levels=tuple(levels),
                dim=int(data["dim"]),
                hidden=int(data["hidden"]),
                layers=int(data["layers"]),
                mixtures=int(data["mixtures"]),
                style_frames=int(data.get("style_frames", 0)),
                kind=str(data.get("kind", PRIOR_KIND)),
                parity_max_abs_error=None if parity is None else float(parity),
                training=dict(data.get("training") or {}),
            )
        except KeyError as exc:
            raise ValueError(f"missing field 'prior.{exc.args[0]}'") from None
        except (TypeError, ValueError) as exc:
            raise ValueError(f"malformed 'prior' ({type(exc).__name__}: {exc})") from None
        return spec

    def problem(
        self, level_dims: dict[str, int], files: dict[str, str], level_hops: dict[str, int] | None = None
    ) -> str | None:
        """What is wrong with the section for a bundle with these levels (dims, hops) and files, or None."""
        if self.kind != PRIOR_KIND:
            return f"'prior.kind' {self.kind!r} is not known (known: {PRIOR_KIND})"
        if self.file not in files:
            return f"'prior.file' {self.file!r} has no sha256 in 'files'"
        if "/" in self.file or "\\" in self.file or self.file.startswith("."):
            return f"'prior.file' {self.file!r} must be a plain file name"
        unknown = [name for name in self.levels if name not in level_dims]
        if unknown or len(set(self.levels)) != len(self.levels):
            return f"'prior' models levels {list(self.levels)}, not distinct levels of the latent"
        if sum(level_dims[name] for name in self.levels) != self.dim:
            return f"'prior' models {list(self.levels)} with {self.dim} dims, which the latent does not have"
        if level_hops is not None and len({level_hops[name] for name in self.levels}) != 1:
            return f"'prior' models levels {list(self.levels)} of different frame rates (their hops differ)"
        if min(self.hidden, self.layers, self.mixtures) < 1:
            return "'prior.hidden', 'layers' and 'mixtures' must be >= 1"
        if self.style_frames < 0:
            return "'prior.style_frames' must be >= 0"
        if self.parity_max_abs_error is not None and not math.isfinite(self.parity_max_abs_error):
            return "'prior.parity_max_abs_error' must be finite"
        return None
