"""The pitch view draws the range the model was trained on from its manifest (``extra.trained_range``, issue 24): a
band from the 5th to the 95th percentile and a line at the median, for pitch and loudness; nothing without one."""

from __future__ import annotations

import json
import shutil

import pytest

from core import pitch_track
from desktop.engine.model.factory import default_bundle_path
from tests.desktop.test_gui import make_window


def test_the_pitch_view_shows_the_trained_range_of_the_bundle_playing(qtbot, settings_path, tmp_path):
    bundle = tmp_path / "ranged"
    shutil.copytree(default_bundle_path(), bundle)
    data = json.loads((bundle / "manifest.json").read_text())
    data["extra"]["trained_range"] = {"pitch_hz": [110.0, 220.0, 440.0], "loudness_db": [-40.0, -25.0, -12.0]}
    (bundle / "manifest.json").write_text(json.dumps(data))

    w = make_window(qtbot, settings_path, bundle=str(bundle))
    view = w.pitch_view
    band, median = view.bands["pitch"]
    assert band.isVisible() and median.isVisible()
    assert band.getRegion() == pytest.approx((45.0, 69.0))  # A2 .. A4 in MIDI notes
    assert median.value() == pytest.approx(57.0)
    loud_band, loud_median = view.bands["loudness"]
    assert loud_band.isVisible() and loud_band.getRegion() == pytest.approx((-40.0, -12.0))
    assert loud_median.value() == pytest.approx(-25.0)
    assert view.range_text == "trained on A2 to A4" and view.range_label.text() == "band: trained on\nA2 to A4"

    voice = default_bundle_path().parent / "voice"  # the shipped voice: pitch only, as its export recorded it
    assert w.load_bundle_path(str(voice))
    hz = json.loads((voice / "manifest.json").read_text())["extra"]["trained_range"]["pitch_hz"]
    assert band.getRegion() == pytest.approx((pitch_track.midi_of(hz[0]), pitch_track.midi_of(hz[2])))
    assert band.isVisible() and not loud_band.isVisible()

    assert w.load_bundle_path(str(default_bundle_path()))  # records none: nothing drawn, no label
    assert not band.isVisible() and not median.isVisible() and not loud_band.isVisible()
    assert view.range_text == "" and view.trained == {} and view.range_label.text() == ""
    w.close()
