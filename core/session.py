"""onnxruntime sessions (``open_session``, the one place any side opens one) and a bundle's parts running in them,
and the per-window model function (normalise, encode, knobs, decode)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from .bundle import Bundle, BundleError, StateSpec
from .latent import LatentControls, apply_declared, level_axes

PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}


def available_providers() -> list[str]:
    """Short names ('cuda', 'cpu') that this onnxruntime build can run, best first."""
    have = set(ort.get_available_providers())
    return [name for name in ("cuda", "cpu") if PROVIDERS[name] in have]


def resolve_providers(choice: str) -> list[str]:
    """'auto' = CUDA when onnxruntime has it, else CPU; 'cuda' fails clearly when it is absent."""
    choice = choice.lower()
    if choice == "auto":
        choice = available_providers()[0]
    if choice not in PROVIDERS:
        raise ValueError(f"unknown provider '{choice}' (use auto, cpu or cuda)")
    if choice == "cuda" and "cuda" not in available_providers():
        raise RuntimeError(
            "the CUDA provider is not available in this onnxruntime build "
            f"(available: {', '.join(ort.get_available_providers())}); install onnxruntime-gpu or use --provider cpu"
        )
    return [PROVIDERS[choice]] + ([PROVIDERS["cpu"]] if choice != "cpu" else [])


def open_session(
    model: str | Path | bytes, providers: list[str] | None = None, threads: int | None = 1
) -> ort.InferenceSession:
    """An onnxruntime session on ``model`` (a file, or a serialised graph), set up the one way the player, the
    exporter and the tools all use: ``threads`` intra-op threads (None: onnxruntime's own choice, one per core),
    one inter-op thread, sequential execution, onnxruntime's default graph optimisation (all levels), warnings
    off (log severity 3: errors only); ``providers`` full onnxruntime names (default: the CPU alone, see
    ``resolve_providers``). A file onnxruntime cannot load raises BundleError naming the file."""
    opts = ort.SessionOptions()
    if threads is not None:
        opts.intra_op_num_threads = max(1, int(threads))
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    providers = list(providers or [PROVIDERS["cpu"]])
    if isinstance(model, bytes):
        return ort.InferenceSession(model, sess_options=opts, providers=providers)
    try:
        return ort.InferenceSession(str(model), sess_options=opts, providers=providers)
    except Exception as exc:  # onnxruntime raises several private exception types
        raise BundleError(f"{model}: onnxruntime cannot load it ({exc})") from exc


def step_part(
    session: ort.InferenceSession,
    feeds: dict[str, np.ndarray],
    outputs: list[str],
    specs: tuple[StateSpec, ...] | list[StateSpec],
    states: dict[str, np.ndarray],
) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """One call of a streaming part: ``feeds`` + the states it reads -> (its ``outputs``, the next states by input
    name). Every block-by-block run (the player's, a render's, export's parity checks) steps through here."""
    res = session.run(list(outputs) + [s.output for s in specs], {**feeds, **states})
    k = len(outputs)
    return res[:k], {s.name: v for s, v in zip(specs, res[k:])}


class ModelRunner:
    """Holds one onnxruntime session per bundle part, created once.

    ``encode``: float32[B, 1, T] (T a multiple of ``manifest.pad_multiple``) -> {level: float32[B, D, F]}.
    ``quantize`` (identity without a quantizer part) and ``decode``: {level: latent} -> float32[B, 1, T].

    Streaming bundles (``manifest.streaming``): the parts also take and return state tensors. ``encode``/``decode``
    feed zero states (the whole signal from its start, which is what the bundle's offline output is); the engine's
    streaming path calls ``encode_step``/``decode_step`` with the states it carries.
    """

    def __init__(self, bundle: Bundle, provider: str = "auto", threads: int = 1):
        self.bundle = bundle
        self.manifest = bundle.manifest
        providers = resolve_providers(provider)
        self.sessions: dict[str, ort.InferenceSession] = {}
        for part in ("encoder", "quantizer", "decoder"):
            path = bundle.part_path(part)
            if path is not None:
                self.sessions[part] = open_session(path, providers, max(1, int(threads)))
        self.provider = self.sessions["encoder"].get_providers()[0]
        self.axes = level_axes(self.manifest)
        self.level_names = [level.name for level in self.manifest.levels]
        self.streaming = self.manifest.streaming
        self.state_specs = {part: (self.streaming.states_of(part) if self.streaming else ()) for part in self.sessions}
        self._check_io()

    def _check_io(self) -> None:
        enc_out = [o.name for o in self.sessions["encoder"].get_outputs()]
        dec_in = [i.name for i in self.sessions["decoder"].get_inputs()]
        for name in self.level_names:
            if name not in enc_out:
                raise BundleError(f"{self.bundle.part_path('encoder')}: has no output '{name}' (outputs: {enc_out})")
            if name not in dec_in:
                raise BundleError(f"{self.bundle.part_path('decoder')}: has no input '{name}' (inputs: {dec_in})")
        for part, specs in self.state_specs.items():
            ins = {i.name for i in self.sessions[part].get_inputs()}
            outs = {o.name for o in self.sessions[part].get_outputs()}
            for spec in specs:
                if spec.name not in ins or spec.output not in outs:
                    raise BundleError(
                        f"{self.bundle.part_path(part)}: has no state input '{spec.name}' and output "
                        f"'{spec.output}' listed in the manifest's 'streaming' section"
                    )

    @property
    def short_provider(self) -> str:
        return {v: k for k, v in PROVIDERS.items()}.get(self.provider, self.provider)

    def zero_states(self, part: str, batch: int = 1) -> dict[str, np.ndarray]:
        """Initial (zero) states of a streaming part, by input name; {} for window bundles."""
        return {s.name: np.zeros((batch,) + tuple(s.shape[1:]), np.float32) for s in self.state_specs.get(part, ())}

    def encode(self, audio: np.ndarray) -> dict[str, np.ndarray]:
        outs = self.sessions["encoder"].run(
            self.level_names, {"audio": audio, **self.zero_states("encoder", audio.shape[0])}
        )
        return dict(zip(self.level_names, outs))

    def encode_step(self, audio: np.ndarray, states: dict[str, np.ndarray]):
        """Streaming: audio float32[1, 1, N] + encoder states -> ({level: float32[1, D, N / hop]}, next states)."""
        outs, states = step_part(
            self.sessions["encoder"], {"audio": audio}, self.level_names, self.state_specs["encoder"], states
        )
        return dict(zip(self.level_names, outs)), states

    def decode_step(self, latents: dict[str, np.ndarray], states: dict[str, np.ndarray]):
        """Streaming: latents + decoder states -> (audio float32[1, 1, N], next states)."""
        feeds = {n: latents[n] for n in self.level_names}
        outs, states = step_part(self.sessions["decoder"], feeds, ["audio"], self.state_specs["decoder"], states)
        return outs[0], states

    def quantize(self, latents: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        sess = self.sessions.get("quantizer")
        if sess is None:
            return latents
        # outputs are named '<level>_q': ONNX forbids an output with an input's name
        outs = sess.run([f"{n}_q" for n in self.level_names], {n: latents[n] for n in self.level_names})
        return dict(zip(self.level_names, outs))

    def decode(self, latents: dict[str, np.ndarray]) -> np.ndarray:
        batch = latents[self.level_names[0]].shape[0]
        return self.sessions["decoder"].run(
            ["audio"], {**{n: latents[n] for n in self.level_names}, **self.zero_states("decoder", batch)}
        )[0]


def pad_to_multiple(x: np.ndarray, multiple: int) -> np.ndarray:
    extra = (-x.shape[-1]) % multiple
    if extra == 0:
        return x
    return np.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, extra)])


@dataclass
class WindowModel:
    """The per-window function the overlap-add calls: float32[W] -> float32[W].

    Normalises loudness as recorded in the manifest, encodes, applies the knobs (``controls`` is swapped, never
    mutated), quantizes when the bundle has a quantizer, decodes and undoes the gain. ``last_latents`` keeps
    the newest window's latents for display.
    """

    runner: ModelRunner
    controls: LatentControls = LatentControls()
    last_latents: dict[str, np.ndarray] | None = None

    def reset(self) -> None:
        """Called before each independent signal (e.g. each channel of a render); stateless here."""

    def streaming_blend(self):
        """What a streaming render of this model mixes into each block's latents (a ``streaming.LatentBlend``), or
        None: a streaming bundle renders block by block, not through this window function."""
        return None

    @property
    def delay(self) -> int:
        """Samples a causal (streaming) bundle's output lags its input; 0 for window bundles."""
        s = self.runner.manifest.streaming
        return s.delay if s is not None else 0

    def encode_window(self, window: np.ndarray) -> tuple[dict[str, np.ndarray], float]:
        """float32[W] -> (latents {level: float32[1, D, F]}, the loudness gain applied before encoding).
        A causal bundle's window is followed by ``delay`` zeros, so its delayed output still covers the window."""
        m = self.runner.manifest
        rms = float(np.sqrt(np.mean(np.square(window, dtype=np.float64))))
        gain = m.normalization.gain_for(rms)
        x = (window * gain).astype(np.float32)
        if self.delay:
            x = np.concatenate([x, np.zeros(self.delay, np.float32)])
        x = pad_to_multiple(x[None, None, :], m.pad_multiple)
        return self.runner.encode(x), gain

    def decode_window(self, latents: dict[str, np.ndarray], gain: float, n: int) -> np.ndarray:
        """Knobs, quantizer, decoder, gain undone, the knobs' level change undone (``axis_effects``): float32[n] (a
        causal bundle's delay removed)."""
        latents = apply_declared(
            self.controls.apply(latents, self.runner.axes), self.runner.manifest.controls, self.controls.values
        )
        d = self.delay
        y = self.runner.decode(self.runner.quantize(latents))[0, 0, d : d + n]
        if y.shape[0] < n:
            y = np.pad(y, (0, n - y.shape[0]))
        effects = self.runner.manifest.axis_effects
        if effects is not None:  # the knobs' level change undone: an axis moves timbre, the gain knobs loudness
            gain = gain / effects.gain(self.controls.offsets)
        return (y / gain).astype(np.float32)

    def __call__(self, window: np.ndarray) -> np.ndarray:
        latents, gain = self.encode_window(window)
        self.last_latents = latents
        return self.decode_window(latents, gain, window.shape[-1])
