"""Issue 23, item 5: a preset is one more way values come in, so it passes the parameter registry's checks (the
knobs' ranges, finite numbers of the right kind, as OSC, MIDI and --set do). A bad one is refused whole, with one
line naming the file and the field; nothing of it is applied."""

from __future__ import annotations

import json

import pytest

from core.latent import LatentControls
from desktop.engine.parameters.presets import PresetError, read_preset, save_preset
from desktop.engine.parameters.values import EngineParams


def _set(*keys_value):
    *keys, value = keys_value

    def edit(data):
        for k in keys[:-1]:
            data = data[k]
        data[keys[-1]] = value

    return edit


BAD = [
    ("nan-offset", _set("levels", "z", "offsets", 3, float("nan")), "levels.z.offsets[3]", "not a finite number"),
    ("inf-offset", _set("levels", "z", "offsets", 0, float("inf")), "levels.z.offsets[0]", "not a finite number"),
    ("offset-1e9-sigma", _set("levels", "z", "offsets", 1, 1e9), "levels.z.offsets[1]", "out of range"),
    ("negative-scale", _set("levels", "z", "scales", 0, -5), "levels.z.scales[0]", "out of range"),
    ("string-offset", _set("levels", "z", "offsets", 2, "up"), "levels.z.offsets[2]", "not a number"),
    ("offsets-not-a-list", _set("levels", "z", "offsets", "abc"), "levels.z.offsets", "must be a list"),
    ("level-not-an-object", _set("levels", "z", 5), "levels.z", "must be an object"),
    ("string-gain", _set("params", "input_gain_db", "loud"), "params.input_gain_db", "not a number"),
    ("nan-gain", _set("params", "output_gain_db", float("nan")), "params.output_gain_db", "not a finite number"),
    ("gain-out-of-range", _set("params", "output_gain_db", 60), "params.output_gain_db", "out of range"),
    ("dry-wet-list", _set("params", "dry_wet", [1]), "params.dry_wet", "not a finite number"),
    ("unknown-fallback", _set("params", "fallback", "explode"), "params.fallback", "not one of"),
    ("params-not-an-object", _set("params", "loud"), "params", "must be an object"),
    ("midi-not-a-list", _set("midi", {"channel": 0}), "midi", "must be a list"),
    (
        "midi-channel-99",
        _set("midi", [{"channel": 99, "control": 1, "address": "/latentsynth/mix/dry_wet"}]),
        "midi[0]",
        "out of range",
    ),
    ("midi-binding-no-address", _set("midi", [{"channel": 1, "control": 1}]), "midi[0]", "no 'address'"),
]


def _preset(tmp_path, manifest, edit=None):
    controls = LatentControls().with_offset("z", 3, 1.5, 16).with_scale("z", 0, 0.5, 16)
    path = save_preset(tmp_path / "p.json", controls, manifest, EngineParams(dry_wet=0.3), "default")
    if edit is not None:
        data = json.loads(path.read_text())
        edit(data)
        path.write_text(json.dumps(data))  # NaN and Infinity as Python's json writes them
    return path


@pytest.mark.parametrize("edit,field,problem", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_a_bad_value_refuses_the_preset_naming_file_and_field(tmp_path, default_bundle, edit, field, problem):
    path = _preset(tmp_path, default_bundle.manifest, edit)
    with pytest.raises(PresetError) as err:
        read_preset(path, default_bundle.manifest, EngineParams)
    msg = str(err.value)
    print(msg)
    assert msg.startswith(f"{path}: {field}: ") and problem in msg and "\n" not in msg, msg


def test_a_good_preset_still_loads_whole(tmp_path, default_bundle):
    path = _preset(tmp_path, default_bundle.manifest)
    preset = read_preset(path, default_bundle.manifest, EngineParams)
    assert preset.controls.offsets["z"][3] == 1.5 and preset.controls.scales["z"][0] == 0.5
    assert preset.params == EngineParams(dry_wet=0.3) and preset.midi == []


def test_the_window_applies_nothing_of_a_bad_preset(qtbot, tmp_path, default_bundle):
    """The gain comes after the knobs in the file: it used to raise in the mix widgets after the knobs had moved."""
    from PySide6.QtCore import QSettings

    from desktop.engine.audio.live import LiveEngine
    from desktop.ui.main_window import AppOptions, MainWindow

    w = MainWindow(
        LiveEngine(),
        QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat),
        AppOptions(list_devices=False, modal_errors=False, bundle=str(default_bundle.path)),
    )
    qtbot.addWidget(w)
    controls, params = w.engine.controls, w.engine.params
    bad = _preset(tmp_path, default_bundle.manifest, _set("params", "input_gain_db", "loud"))
    assert not w.load_preset(str(bad))
    assert str(bad) in w.messages[-1] and "params.input_gain_db" in w.messages[-1]
    assert w.engine.controls == controls and w.engine.params == params
    assert w.load_preset(str(_preset(tmp_path, default_bundle.manifest)))
    assert w.engine.controls.offsets["z"][3] == 1.5 and w.engine.params.dry_wet == pytest.approx(0.3)
