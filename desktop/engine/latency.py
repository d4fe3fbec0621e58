"""PortAudio's suggested latency per direction: the app's default, and how one value or an (input, output) pair
splits into the two sides a stream is opened with. Imports nothing, so the command line can name the default
without loading numpy before the window's start-up threads begin."""

from __future__ import annotations

# The output side 80 ms, the input side the host's lowest. The file path's stream is output-only and takes the
# output side alone, so a file plays exactly as with 0.08 for both; the microphone path's duplex stream no longer
# buffers its input as much as its output. On PulseAudio's virtual devices at 512-frame blocks its device part
# goes from 151 ms (0.08 for both) to 116 ms; the file path's is 70 ms (docs/desktop.md, "Streaming mode").
DEFAULT_LATENCY: tuple = ("low", 0.08)


def split_latency(latency) -> tuple:
    """PortAudio's suggested latency as (input, output): a pair as given, one value for both directions."""
    return tuple(latency) if isinstance(latency, (tuple, list)) else (latency, latency)
