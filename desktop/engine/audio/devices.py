"""Audio drivers for the live engine: PortAudio through sounddevice, and a clocked null device for headless use.

``sounddevice`` is imported lazily: it reads the device list once, at import, so the sound server must be
running first (and tests start PulseAudio before anything imports it).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

from .alsa_quiet import silence as silence_alsa
from .latency import DEFAULT_LATENCY, split_latency


class DeviceError(Exception):
    """No usable audio device, or PortAudio is missing; the message says which."""


def _sd():
    silence_alsa()  # before PortAudio's first call: alsa-lib would print underruns onto the terminal
    try:
        import sounddevice as sd
    except OSError as exc:  # Debian without libportaudio2
        raise DeviceError(f"PortAudio is not available ({exc}); install libportaudio2") from exc
    return sd


@dataclass(frozen=True)
class DeviceInfo:
    index: int
    name: str
    hostapi: str
    inputs: int
    outputs: int
    default_rate: float
    is_default_input: bool
    is_default_output: bool


def list_devices() -> list[DeviceInfo]:
    sd = _sd()
    try:
        devices = sd.query_devices()
        hostapis = sd.query_hostapis()
        din, dout = sd.default.device
    except Exception as exc:
        raise DeviceError(f"cannot list audio devices: {exc}") from exc
    out = []
    for i, d in enumerate(devices):
        out.append(
            DeviceInfo(
                i,
                d["name"],
                hostapis[d["hostapi"]]["name"],
                int(d["max_input_channels"]),
                int(d["max_output_channels"]),
                float(d["default_samplerate"]),
                i == din,
                i == dout,
            )
        )
    return out


def resolve_device(spec, kind: str):
    """A device index from an index, an exact name or a unique name fragment (None: the default)."""
    if spec in (None, "", "default"):
        return None
    devs = list_devices()
    chan = (lambda d: d.inputs) if kind == "input" else (lambda d: d.outputs)
    if isinstance(spec, int) or (isinstance(spec, str) and spec.isdigit()):
        # an index is checked like a name: one that no device of this kind has is refused, not played silent
        if any(d.index == int(spec) and chan(d) > 0 for d in devs):
            return int(spec)
        have = ", ".join(str(d.index) for d in devs if chan(d) > 0) or "none"
        raise DeviceError(f"no {kind} device with index {spec} ({kind} devices: {have}; see --list-devices)")
    exact = [d for d in devs if d.name == spec and chan(d) > 0]
    if exact:
        return exact[0].index
    part = [d for d in devs if spec.lower() in d.name.lower() and chan(d) > 0]
    if not part:
        raise DeviceError(f"no {kind} device named '{spec}' (see --list-devices)")
    return part[0].index


class SoundDeviceDriver:
    """A PortAudio stream: duplex (mono in, stereo out) for the microphone, output-only for a file source.

    ``latency``: PortAudio's suggested latency, seconds or 'low' / 'high', one for both directions or a pair
    (input, output): the input side need not buffer as much as the output (docs/desktop.md, "Streaming mode")."""

    settles = True  # a sound server takes a new stream's first callbacks in bursts: the engine lets them settle

    def __init__(
        self,
        input_device=None,
        output_device=None,
        blocksize: int = 512,
        sample_rate: int | None = None,
        latency: str | float | tuple = DEFAULT_LATENCY,
        out_channels: int = 2,
        wake: "WakeStream | None" = None,
    ):
        sd = _sd()
        self.wake = wake  # a stream opened at launch with these very settings: taken over instead of opening one
        self.input_device = resolve_device(input_device, "input")
        self.output_device = resolve_device(output_device, "output")
        self.blocksize = int(blocksize)
        self.latency = latency
        try:
            out_info = sd.query_devices(self.output_device, "output")
        except Exception as exc:
            raise DeviceError(f"no output device available: {exc}") from exc
        self.out_channels = max(1, min(out_channels, int(out_info["max_output_channels"])))
        self.sample_rate = int(sample_rate or out_info["default_samplerate"])
        self.stream = None
        self.latency_s = 0.0
        self.error = ""
        self._user_cb = None
        self._input_needed = False
        self._closing = False
        self._forward: SoundDeviceDriver | None = None  # the driver that took this one's stream over

    @property
    def settings(self) -> tuple:
        return (
            self.input_device,
            self.output_device,
            self.blocksize,
            self.sample_rate,
            self.latency,
            self.out_channels,
        )

    def open(self, callback, input_needed: bool) -> None:
        if self.wake is not None and self.wake.hand_over(self, callback, input_needed):
            return
        sd = _sd()
        self._user_cb = callback
        self._input_needed = bool(input_needed)

        # the callback is looked up on every call, so a stream can be handed to another driver while it runs
        def duplex(indata, outdata, frames, t, status):
            self._user_cb(indata, outdata, frames, bool(status))

        def output_only(outdata, frames, t, status):
            self._user_cb(None, outdata, frames, bool(status))

        def finished():
            owner = self._forward or self
            if owner.stream is not None and not owner._closing:
                owner.error = "the audio stream stopped (device removed or server gone)"

        try:
            if input_needed:
                self.stream = sd.Stream(
                    samplerate=self.sample_rate,
                    blocksize=self.blocksize,
                    dtype="float32",
                    device=(self.input_device, self.output_device),
                    channels=(1, self.out_channels),
                    latency=split_latency(self.latency),
                    callback=duplex,
                    finished_callback=finished,
                )
                lat = self.stream.latency
                self.latency_s = float(lat[0]) + float(lat[1])
            else:
                self.stream = sd.OutputStream(
                    samplerate=self.sample_rate,
                    blocksize=self.blocksize,
                    dtype="float32",
                    device=self.output_device,
                    channels=self.out_channels,
                    latency=split_latency(self.latency)[1],
                    callback=output_only,
                    finished_callback=finished,
                )
                self.latency_s = float(self.stream.latency)
            self.stream.start()
        except Exception as exc:  # PortAudioError, ValueError for bad settings
            self.stream = None
            raise DeviceError(f"cannot open the audio device: {exc}") from exc

    @property
    def active(self) -> bool:
        return self.stream is not None and bool(self.stream.active)

    def reopen(self) -> None:
        """Close the stream (it died: the sound server dropped it, or the device went away and came back) and open
        a fresh one with the same settings, its callbacks going to the same callback; DeviceError if it cannot."""
        self.close()
        self._closing = False
        self.error = ""
        self.wake = None
        self.open(self._user_cb, self._input_needed)

    def close(self) -> None:
        self._closing = True
        if self.stream is not None:
            try:
                self.stream.stop()
                self.stream.close()
            except Exception:
                pass
        self.stream = None


class WakeStream:
    """The stream the app will play on, opened at launch, silent, before anything else is loaded; the engine's
    driver takes it over (``hand_over``) when the model and the window are ready, so the sound server's start
    overlaps the start-up instead of following it.

    Why: PulseAudio's null sink (the virtual speaker the tests use) sleeps in 2-second blocks while idle, and a
    new stream's first callbacks stalled until that sleep ended, up to ~1.9 s (6 of 6 bare sounddevice
    streams: 1.84-1.93 s; at most 0.24 s while another stream played). The stream is opened exactly as
    ``SoundDeviceDriver`` would open it (devices, block, latency, rate, channels; duplex for the microphone);
    a driver with other settings opens its own stream and this one is closed (``Preloader.close_wake``)."""

    def __init__(
        self,
        input_device=None,
        output_device=None,
        duplex: bool = False,
        blocksize: int = 512,
        latency: str | float | tuple = DEFAULT_LATENCY,
    ):
        self.duplex = bool(duplex)
        self.driver: SoundDeviceDriver | None = None
        try:
            drv = SoundDeviceDriver(input_device, output_device, blocksize=blocksize, latency=latency)
            drv.open(self._silence, self.duplex)
            self.driver = drv
        except Exception:  # only a head start: without it the real stream opens later, nothing else changes
            self.driver = None

    @staticmethod
    def _silence(indata, outdata, frames: int, xrun: bool) -> None:
        outdata.fill(0.0)

    @property
    def active(self) -> bool:
        return self.driver is not None and self.driver.active

    def hand_over(self, new: SoundDeviceDriver, callback, input_needed: bool) -> bool:
        """Give the running stream to ``new`` (same settings, same duplex-ness), its callbacks from now on going
        to ``callback``; False (nothing changes) when it does not fit or is gone."""
        old = self.driver
        if old is None or not old.active or input_needed != self.duplex or old.settings != new.settings:
            return False
        self.driver = None
        new.stream, new.latency_s, new._user_cb = old.stream, old.latency_s, callback
        new._input_needed = input_needed
        old._forward, old.stream = new, None
        old._user_cb = callback  # the stream's closures call the old driver's callback: the engine's, now
        return True

    def close(self) -> None:
        drv, self.driver = self.driver, None
        if drv is not None:
            drv.close()


class NullDriver:
    """Drives the engine's callback from a thread at ``speed`` x real time, with no audio hardware.

    ``source`` (float32[T], looped when ``loop``) is the fake microphone; with ``capture`` every output block is
    kept (``captured()``). Used by tests and by the app when no device can be opened.
    """

    def __init__(
        self,
        sample_rate: int = 44100,
        blocksize: int = 512,
        source: np.ndarray | None = None,
        loop: bool = True,
        speed: float = 1.0,
        capture: bool = False,
        max_blocks: int | None = None,
    ):
        self.sample_rate = int(sample_rate)
        self.blocksize = int(blocksize)
        self.source = None if source is None else np.asarray(source, np.float32).reshape(-1)
        self.loop = loop
        self.speed = float(speed)
        self.capture = capture
        self.max_blocks = max_blocks
        self.latency_s = 0.0
        self.error = ""
        self._blocks: list[np.ndarray] = []
        self._thread = None
        self._stop = threading.Event()
        self.blocks_done = 0

    def open(self, callback, input_needed: bool) -> None:
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, args=(callback, input_needed), daemon=True, name="latentsynth-null-audio"
        )
        self._thread.start()

    def _run(self, callback, input_needed: bool) -> None:
        n = self.blocksize
        indata = np.zeros((n, 1), np.float32)
        pos = 0
        t_next = time.perf_counter()
        period = n / self.sample_rate / self.speed
        while not self._stop.is_set():
            if self.max_blocks is not None and self.blocks_done >= self.max_blocks:
                break
            if input_needed and self.source is not None:
                seg = self.source[pos : pos + n]
                if seg.shape[0] < n:
                    if self.loop:
                        seg = np.concatenate([seg, self.source[: n - seg.shape[0]]])
                    else:
                        seg = np.pad(seg, (0, n - seg.shape[0]))
                indata[:, 0] = seg
                pos = (pos + n) % self.source.shape[0] if self.loop else pos + n
            outdata = np.zeros((n, 2), np.float32)
            callback(indata if input_needed else None, outdata, n, False)
            if self.capture:
                self._blocks.append(outdata[:, 0].copy())
            self.blocks_done += 1
            t_next += period
            delay = t_next - time.perf_counter()
            if delay > 0:
                time.sleep(delay)

    @property
    def active(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def captured(self) -> np.ndarray:
        return np.concatenate(self._blocks) if self._blocks else np.zeros(0, np.float32)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
