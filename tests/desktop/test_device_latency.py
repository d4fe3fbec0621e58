"""PortAudio's suggested latency per direction (issue 24 item 7): ``--device-latency IN,OUT`` is parsed and checked
like one value, and a duplex stream on PulseAudio's virtual devices opened with a low input side reports less device
latency than one buffering both sides alike, the output-only stream taking the OUT part. The default is low,0.04:
the microphone's side low, the speaker's 0.04 s, so the microphone path is no slower than the file path was."""

from __future__ import annotations

import pytest

from desktop.app_cli import build_parser
from desktop.engine.audio.latency import split_latency
from desktop.ui.main_window import AppOptions


def test_the_default_is_low_on_the_input_side_and_40_ms_on_the_output_side():
    default = build_parser().parse_args([]).device_latency
    assert split_latency(default) == ("low", 0.04)  # (input, output)
    assert AppOptions().device_latency == default  # the window started by a test or a script opens the same
    assert split_latency(0.08) == (0.08, 0.08) and split_latency(["low", "high"]) == ("low", "high")


def test_the_option_takes_one_latency_or_in_and_out(capsys):
    parse = build_parser().parse_args
    assert parse(["--device-latency", "0.08"]).device_latency == 0.08
    assert parse(["--device-latency", "low"]).device_latency == "low"
    assert parse(["--device-latency", "low,0.04"]).device_latency == ("low", 0.04)
    assert parse(["--device-latency", "0.01, high"]).device_latency == (0.01, "high")
    for bad, words in (("low,2", "2 s is outside 0..1 s"), ("low,0.04,0.1", "not one latency or IN,OUT")):
        with pytest.raises(SystemExit) as exit_info:
            parse(["--device-latency", bad])
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and words in err and len(err.strip().splitlines()) == 1


def test_a_duplex_stream_buffers_each_direction_as_asked(pulse):
    from desktop.engine.audio.devices import SoundDeviceDriver

    def silence(indata, outdata, frames, xrun):
        outdata.fill(0.0)

    reported = {}
    for latency in (0.08, ("low", 0.08), ("low", 0.04), "default"):
        for duplex in (True, False):
            kw = {} if latency == "default" else {"latency": latency}
            drv = SoundDeviceDriver(None, None, blocksize=512, **kw)
            drv.open(silence, input_needed=duplex)
            reported[latency, duplex] = drv.latency_s
            drv.close()
    both, low_in, low_both = (reported[k, True] for k in (0.08, ("low", 0.08), ("low", 0.04)))
    assert low_in < both - 0.01 and low_both < low_in - 0.01, reported
    assert reported[("low", 0.08), False] == pytest.approx(reported[0.08, False], abs=1e-3), reported  # OUT only
    assert reported[("low", 0.04), False] < reported[0.08, False] - 0.01, reported
    # the driver's default: the microphone's stream buffers as low,0.04 does, a file's as 0.04 does
    assert reported["default", True] == pytest.approx(low_both, abs=1e-3), reported
    assert reported["default", True] < low_in - 0.01, reported
    assert reported["default", False] == pytest.approx(reported[("low", 0.04), False], abs=1e-3), reported
