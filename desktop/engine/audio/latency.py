"""PortAudio's suggested latency per direction: the app's default, and how one value or an (input, output) pair
splits into the two sides a stream is opened with. Imports nothing, so the command line can name the default
without loading numpy before the window's start-up threads begin."""

from __future__ import annotations

# The output side 40 ms, the input side the host's lowest. The file path's stream is output-only and takes the
# output side alone; the microphone path's duplex stream does not buffer its input as much as its output. On
# PulseAudio's virtual devices at 512-frame blocks the microphone's device part is 70 ms (151 ms at 0.08 for both),
# the file path's 46 ms, and the microphone path end to end (112 ms) is faster than the file path was at 0.08
# (125 ms) (docs/desktop.md, "Streaming mode").
DEFAULT_LATENCY: tuple = ("low", 0.04)


def split_latency(latency) -> tuple:
    """PortAudio's suggested latency as (input, output): a pair as given, one value for both directions."""
    return tuple(latency) if isinstance(latency, (tuple, list)) else (latency, latency)
