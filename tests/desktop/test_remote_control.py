"""Remote control: the parameter registry, OSC over loopback UDP against the running engine, MIDI learn and bend."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import mido
import numpy as np
import pytest
from pythonosc.udp_client import SimpleUDPClient

from core.bundle_io import load_bundle
from desktop.control.midi import TRANSPOSE, MidiInput, MidiMap, input_names
from desktop.control.osc import OscSender, OscServer
from desktop.engine.audio.devices import NullDriver
from desktop.engine.audio.live import LiveEngine
from desktop.engine.model.factory import default_bundle_path
from desktop.engine.model.slot import ModelSlot
from desktop.engine.parameters.params import PREFIX, Param, ParamError, ParamRegistry, StaticTarget
from desktop.engine.parameters.presets import load_preset, preset_midi, save_preset
from desktop.engine.parameters.values import LIVE_MODES, EngineParams, StreamConfig
from tests.waits import wait_for

pytestmark = pytest.mark.slow  # launches processes, trains/exports or plays in real time

RATE = 44100


@pytest.fixture()
def registry():
    manifest = load_bundle(default_bundle_path()).manifest
    target = StaticTarget(EngineParams(), StreamConfig())
    return ParamRegistry(target, manifest, LIVE_MODES)


def test_every_parameter_has_an_address_range_and_default(registry):
    addresses = set(registry.params)
    assert f"{PREFIX}/mix/dry_wet" in addresses and f"{PREFIX}/stream/mode" in addresses
    assert f"{PREFIX}/latent/z/0/offset" in addresses and f"{PREFIX}/latent/z/15/scale" in addresses
    assert len(addresses) == 6 + 2 + 2 * 16  # mix: in, out, dry/wet, bypass, limiter, gate
    for a, p in registry.params.items():
        assert registry.get(a) == p.default, a
        assert p.to_json()["address"] == a


def test_writes_land_in_the_target_and_bad_values_change_nothing(registry):
    t = registry.target
    registry.set(f"{PREFIX}/mix/output_gain_db", -6)
    registry.set(f"{PREFIX}/mix/bypass", 1)
    registry.set(f"{PREFIX}/stream/mode", "window")
    registry.set(f"{PREFIX}/latent/z/2/offset", 1.5)
    registry.set_normalized(f"{PREFIX}/latent/z/2/scale", 1.0)
    assert t.params.output_gain_db == -6.0 and t.params.bypass is True and t.config.mode == "window"
    assert t.controls.offsets["z"][2] == 1.5 and t.controls.scales["z"][2] == 3.0
    before = (t.params, t.config, t.controls)
    for address, value in [
        (f"{PREFIX}/mix/dry_wet", 1.5),
        (f"{PREFIX}/mix/dry_wet", float("nan")),
        (f"{PREFIX}/latent/z/0/offset", 1e9),
        (f"{PREFIX}/stream/mode", "turbo"),
        (f"{PREFIX}/mix/dry_wet", "loud"),
        (f"{PREFIX}/nope", 1.0),
        (f"{PREFIX}/latent/z/16/offset", 0.0),
    ]:
        with pytest.raises(ParamError) as err:
            registry.set(address, value)
        assert address in str(err.value)
    assert (t.params, t.config, t.controls) == before


def test_osc_moves_a_knob_in_the_running_engine_and_the_output_follows():
    """From a second socket: output gain -12 dB arrives over UDP and the engine's output drops by 12 dB."""
    t = np.arange(RATE * 60) / RATE
    source = (0.25 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
    eng = LiveEngine()
    eng.set_model(ModelSlot.identity())
    eng.set_stream_config(StreamConfig("low-latency", 0.1))
    eng.set_params(EngineParams(limiter=False))
    registry = ParamRegistry(eng, None, LIVE_MODES)
    arrived = []
    registry.add_listener(lambda a, v: arrived.append((time.perf_counter(), eng.frames_out, a, v)))
    server = OscServer(registry, port=0).start()
    drv = NullDriver(RATE, 512, source, loop=True, speed=1.0, capture=True)
    try:
        eng.start(drv)
        wait_for(lambda: eng.frames_out >= RATE, "a second of output before the change")
        sent_at = time.perf_counter()
        SimpleUDPClient("127.0.0.1", server.port).send_message(f"{PREFIX}/mix/output_gain_db", -12.0)
        wait_for(lambda: arrived, "the OSC message", timeout=5)
        wait_for(lambda: eng.frames_out >= arrived[0][1] + RATE + 4096, "a second of output after the change")
    finally:
        eng.stop(fade=False)
        server.stop()
    assert arrived and arrived[0][2:] == (f"{PREFIX}/mix/output_gain_db", -12.0)
    assert arrived[0][0] - sent_at < 0.5  # the message reached the registry promptly
    y = drv.captured()
    switch = arrived[0][1]
    before, after = y[switch - RATE // 2 : switch], y[switch + RATE // 2 : switch + RATE]
    drop = 20 * np.log10(np.sqrt(np.mean(after**2)) / np.sqrt(np.mean(before**2)))
    assert drop == pytest.approx(-12.0, abs=0.5)
    steps = np.abs(np.diff(y[switch - 2048 : switch + RATE // 2]))
    assert steps.max() <= 1.05 * np.abs(np.diff(source)).max()  # glided, no click


def test_latent_writes_reach_the_live_engine_s_model(default_runner):
    eng = LiveEngine()
    eng.set_model(ModelSlot.from_runner(default_runner))
    registry = ParamRegistry(eng, default_runner.manifest, LIVE_MODES)
    registry.set(f"{PREFIX}/latent/z/4/offset", -1.25)
    registry.set(f"{PREFIX}/latent/z/4/scale", 0.5)
    assert eng.controls.offsets["z"][4] == -1.25 and eng.controls.scales["z"][4] == 0.5
    assert registry.get(f"{PREFIX}/latent/z/4/offset") == -1.25
    registry.set(f"{PREFIX}/stream/hop_s", 0.3)
    assert eng.config.hop_s == 0.3


def test_bad_osc_messages_are_logged_and_ignored(registry):
    log = []
    server = OscServer(registry, port=0, log=log.append).start()
    client = SimpleUDPClient("127.0.0.1", server.port)
    try:
        client.send_message(f"{PREFIX}/nope", 1.0)
        client.send_message(f"{PREFIX}/mix/dry_wet", 7.0)
        client.send_message(f"{PREFIX}/mix/dry_wet", [0.1, 0.2])
        client.send_message("/other/app", 1.0)
        client.send_message(f"{PREFIX}/latent/z/1/offset", -2.0)  # a good one after the bad ones still works
        wait_for(lambda: registry.target.controls.offsets.get("z", (0, 0))[1] == -2.0, "the good message", timeout=5)
    finally:
        server.stop()
    assert registry.target.controls.offsets["z"][1] == -2.0
    assert registry.target.params.dry_wet == 1.0
    assert len(server.errors) == 4 and all(line.startswith("OSC: ignored") for line in log)


def test_osc_sender_streams_the_latent_position():
    import threading

    from pythonosc.dispatcher import Dispatcher
    from pythonosc.osc_server import ThreadingOSCUDPServer

    got = []
    d = Dispatcher()
    d.map(f"{PREFIX}/out/*", lambda addr, *args: got.append((addr, args)))
    srv = ThreadingOSCUDPServer(("127.0.0.1", 0), d)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()

    class Snap:
        latent_positions = {"z": np.array([0.5, -1.0])}
        out_peak = 0.5

    sender = OscSender(lambda: Snap(), "127.0.0.1", srv.server_address[1], rate_hz=50).start()
    wait_for(lambda: len(got) >= 4, "four messages from the sender", timeout=5)
    sender.stop()
    srv.shutdown()
    srv.server_close()
    latents = [args for addr, args in got if addr == f"{PREFIX}/out/latent/z"]
    assert latents and latents[0] == pytest.approx((0.5, -1.0))
    assert any(addr == f"{PREFIX}/out/level_db" and args[0] == pytest.approx(-6.02, abs=0.01) for addr, args in got)


def test_midi_learn_maps_a_controller_and_survives_a_preset_round_trip(registry, tmp_path):
    m = MidiMap(registry)
    address = f"{PREFIX}/latent/z/0/offset"
    m.learn(address)
    m.handle(mido.Message("control_change", channel=2, control=74, value=127))
    assert m.bindings == {(2, 74): address} and registry.get(address) == 3.0
    m.handle(mido.Message("control_change", channel=2, control=74, value=0))
    assert registry.get(address) == -3.0
    m.handle(mido.Message("control_change", channel=2, control=75, value=64))  # unbound: ignored
    assert m.ignored == 1
    manifest = registry.manifest
    path = save_preset(tmp_path / "p.json", registry.target.controls, manifest, midi=m.to_json())
    fresh = MidiMap(ParamRegistry(StaticTarget(EngineParams(), StreamConfig()), manifest, LIVE_MODES))
    assert fresh.load_json(preset_midi(path)) == []
    assert fresh.bindings == m.bindings
    fresh.handle(mido.Message("control_change", channel=2, control=74, value=127))
    assert fresh.registry.get(address) == 3.0
    controls, _ = load_preset(path, manifest)  # the knob part of the preset still loads as before
    assert controls.offsets["z"][0] == -3.0
    assert fresh.load_json([{"channel": 0, "control": 1, "address": "/latentsynth/nope"}])[0].startswith("MIDI")


def test_bend_and_notes_drive_a_declared_transpose(registry):
    applied = []
    registry.add(Param(TRANSPOSE, "transpose", "semitones", -24, 24, 0.0), applied.append)
    m = MidiMap(registry, bend_range=2.0)
    m.handle(mido.Message("pitchwheel", pitch=8191))
    assert applied[-1] == pytest.approx(2.0, abs=1e-3)
    m.handle(mido.Message("note_on", note=67, velocity=100))
    assert applied[-1] == pytest.approx(7 + 2.0, abs=1e-3)
    m.handle(mido.Message("note_on", note=48, velocity=100))
    assert applied[-1] == pytest.approx(-12 + 2.0, abs=1e-3)  # last held note wins
    m.handle(mido.Message("note_off", note=48))
    assert applied[-1] == pytest.approx(7 + 2.0, abs=1e-3)
    m.handle(mido.Message("note_on", note=67, velocity=0))  # running-status note off
    m.handle(mido.Message("pitchwheel", pitch=0))
    assert applied[-1] == 0.0


def test_bad_midi_is_ignored_and_a_missing_port_is_one_line(registry):
    m = MidiMap(registry)
    m.handle(mido.Message("sysex", data=[1, 2, 3]))
    m.handle(mido.Message("pitchwheel", pitch=100))  # no transpose control in this bundle: ignored
    assert m.ignored == 2
    with pytest.raises(OSError) as err:
        MidiInput("no such port 123", m)
    assert "no such port 123" in str(err.value) and "\n" not in str(err.value)


def test_midi_through_a_virtual_port_where_the_platform_has_one(registry):
    names = input_names()
    try:
        out = mido.open_output("latentsynth-test-out", virtual=True)
    except Exception as exc:  # no ALSA sequencer (no /dev/snd/seq) in containers: the message path above stands in
        pytest.skip(f"no virtual MIDI ports here ({type(exc).__name__}); inputs seen: {names}")
    m = MidiMap(registry)
    m.learn(f"{PREFIX}/mix/dry_wet")
    inp = MidiInput("latentsynth-test-out", m)
    try:
        out.send(mido.Message("control_change", control=7, value=0))
        wait_for(lambda: registry.target.params.dry_wet == 0.0, "the MIDI control change", timeout=3)
    finally:
        inp.close()
        out.close()
    assert registry.target.params.dry_wet == 0.0


def test_registry_matches_the_preset_format(registry, tmp_path):
    registry.set(f"{PREFIX}/latent/z/3/offset", 0.75)
    path = save_preset(tmp_path / "x.json", registry.target.controls, registry.manifest, registry.target.params)
    data = json.loads(path.read_text())
    assert data["levels"]["z"]["offsets"][3] == 0.75 and "midi" not in data


# ---- the window: OSC and MIDI move its widgets, MIDI learn survives a restart -----------------------------------


def _window(qtbot, settings_path):
    from PySide6.QtCore import QSettings

    from desktop.control.remote import RemoteControl
    from desktop.engine.parameters.values import HOP_RANGE_S
    from desktop.ui.main_window import AppOptions, MainWindow

    opts = AppOptions(
        list_devices=False, modal_errors=False, driver_factory=lambda i, o: NullDriver(44100, 512, source=None)
    )
    w = MainWindow(LiveEngine(), QSettings(str(settings_path), QSettings.IniFormat), opts)
    qtbot.addWidget(w)
    remote = RemoteControl(w.engine, LIVE_MODES, HOP_RANGE_S)
    w.attach_remote(remote)
    return w, remote


def test_window_widgets_follow_osc_and_midi_learn_survives_a_restart(qtbot, settings_path):
    w, remote = _window(qtbot, settings_path)
    assert set(w.knob_addresses()) <= set(remote.registry.params)
    assert f"{PREFIX}/generate/temperature" in w.knob_addresses()  # the default bundle has a prior: MIDI learn
    port = remote.start_osc(0)
    try:
        SimpleUDPClient("127.0.0.1", port).send_message(f"{PREFIX}/latent/z/3/offset", 2.5)
        SimpleUDPClient("127.0.0.1", port).send_message(f"{PREFIX}/mix/dry_wet", 0.25)
        SimpleUDPClient("127.0.0.1", port).send_message(f"{PREFIX}/generate/temperature", 1.5)
        SimpleUDPClient("127.0.0.1", port).send_message(f"{PREFIX}/mix/gate_db", -45.0)
        qtbot.waitUntil(lambda: w.latent_knobs["z"][3][0].value() == 2.5 and w.dry_wet.value() == 25.0, timeout=5000)
        qtbot.waitUntil(lambda: w.mix.gate.value() == -45.0, timeout=5000)  # the input panel's GATE knob follows
        qtbot.waitUntil(lambda: w.generate.temperature.value() == 1.5, timeout=5000)  # the panel follows
    finally:
        remote.close()
    assert w.engine.controls.offsets["z"][3] == 2.5 and w.engine.params.dry_wet == 0.25
    assert w.engine.params.gate_db == -45.0 and w.mix.gate.text(-90.0) == "off"
    w.midi_learn(f"{PREFIX}/latent/z/1/scale")
    remote.midi.handle(mido.Message("control_change", channel=0, control=21, value=127))
    qtbot.waitUntil(lambda: w.latent_knobs["z"][1][1].value() == 3.0, timeout=5000)
    w.save_settings()
    w.close()
    w2, remote2 = _window(qtbot, settings_path)  # a restart: same settings file
    assert remote2.midi.bindings == {(0, 21): f"{PREFIX}/latent/z/1/scale"}
    remote2.midi.handle(mido.Message("control_change", channel=0, control=21, value=0))
    qtbot.waitUntil(lambda: w2.latent_knobs["z"][1][1].value() == 0.0, timeout=5000)
    assert w2.engine.controls.scales["z"][1] == 0.0


@pytest.mark.skipif(__import__("shutil").which("xvfb-run") is None, reason="xvfb-run is not installed (Debian: xvfb)")
def test_the_app_takes_osc_from_another_process_and_its_output_follows(pulse, fixtures_dir, tmp_path):
    """The real app on PulseAudio's virtual devices, recording its output through an identity bundle (so the level
    is steady); a second process turns the output gain down 18 dB over OSC; the recording's level drops by that."""
    import re
    import subprocess
    import sys

    import soundfile as sf

    from conftest import ROOT
    from tests.identity_bundle import build_identity_bundle

    bundle = build_identity_bundle(tmp_path / "identity")

    take = tmp_path / "take.wav"
    t = np.arange(44100 * 20) / 44100
    tone = tmp_path / "tone.wav"
    sf.write(tone, (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 44100)
    env = {
        **pulse,
        "LATENTSYNTH_SETTINGS": str(tmp_path / "s.ini"),
        "LATENTSYNTH_STATE_DIR": str(tmp_path / "st"),
        "QT_QPA_PLATFORM": "xcb",
    }
    proc = subprocess.Popen(
        [
            "xvfb-run",
            "-a",
            sys.executable,
            "-m",
            "desktop.app",
            "--input-file",
            str(tone),
            "--record",
            str(take),
            "--osc-port",
            "0",
            "--mode",
            "low-latency",
            "--bundle",
            str(bundle),
            "--quit-after",
            "10",
        ],
        env=env,
        cwd=str(ROOT),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    port = None
    for line in proc.stderr:
        m = re.search(r"OSC on udp://127\.0\.0\.1:(\d+)", line)
        if m:
            port = int(m.group(1))
            break
    assert port, "the app did not say where OSC listens"
    wait_for(
        lambda: take.exists() and take.stat().st_size > 44 and sf.info(str(take)).duration >= 3.0,
        "3 s in the app's take",
        timeout=60,
    )
    SimpleUDPClient("127.0.0.1", port).send_message(f"{PREFIX}/mix/output_gain_db", -18.0)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-2000:]
    stats = json.loads([line for line in out.splitlines() if line.startswith("{")][-1])
    assert stats["osc_received"] == 1
    y, sr = sf.read(take)
    env_db = 20 * np.log10(np.maximum(np.sqrt(np.convolve(y**2, np.ones(2048) / 2048, "valid")), 1e-9))
    loud, quiet = np.percentile(env_db[sr:], 95), env_db[-sr:].mean()  # the last second: after the change
    assert loud - quiet == pytest.approx(18.0, abs=1.5)


def test_render_takes_knobs_by_address(tmp_path, fixtures_dir):
    """latentsynth-render --set ADDRESS=VALUE: the same registry as OSC; the offset changes the output exactly as
    --latent does, and a bad address or value is one line and exit 2."""
    import subprocess
    import sys

    import soundfile as sf

    from conftest import ROOT

    src = str(fixtures_dir / "speech_arctic_a0007.wav")

    def render(name, *extra):
        out = tmp_path / name
        proc = subprocess.run(
            [sys.executable, "-m", "desktop.render_cli", src, "-o", str(out), "--quiet", *extra],
            capture_output=True,
            text=True,
            cwd=str(ROOT),
            timeout=300,
        )
        return proc, out

    p1, a = render("a.wav", "--set", f"{PREFIX}/latent/z/0/offset=2")
    p2, b = render("b.wav", "--latent", "0=2")
    p3, c = render("c.wav")
    assert p1.returncode == p2.returncode == p3.returncode == 0, p1.stderr
    ya, yb, yc = sf.read(a)[0], sf.read(b)[0], sf.read(c)[0]
    assert np.array_equal(ya, yb) and not np.allclose(ya, yc)
    for bad in (
        f"{PREFIX}/mix/dry_wet=0.5",
        f"{PREFIX}/latent/z/0/offset=9",
        f"{PREFIX}/latent/z/99/offset=1",
        "no-equals-sign",
    ):
        proc, out = render("bad.wav", "--set", bad)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert not out.exists()


def test_window_lists_midi_ports_and_a_port_that_cannot_open_is_a_message(qtbot, settings_path):
    w, remote = _window(qtbot, settings_path)
    w.fill_midi_ports(["Keystation 49 MIDI 1", "nanoKONTROL2 MIDI 1"])
    assert [w.midi_combo.itemText(i) for i in range(w.midi_combo.count())] == [
        "none",
        "Keystation 49 MIDI 1",
        "nanoKONTROL2 MIDI 1",
    ]
    w.midi_combo.setCurrentIndex(1)
    w._on_midi_chosen()  # no MIDI system here: opening fails, the app says so and keeps running
    if remote.midi_in is None:
        assert "Keystation 49 MIDI 1" in w.messages[-1] and "\n" not in w.messages[-1]
    w.midi_combo.setCurrentIndex(0)
    w._on_midi_chosen()
    assert remote.midi_in is None and w.settings.value("midi/input") == ""


def test_a_midi_port_that_disappears_is_closed_and_reported_once(registry):
    """This machine has no MIDI system to unplug a port from (no ALSA sequencer), so the port list is given: the
    open input is listed, then not. The watch closes it, says so in one line and never raises."""
    from desktop.control.remote import RemoteControl

    class OpenPort:  # what MidiInput keeps of an open rtmidi port: its name and close()
        name, closed = "Keystation 49 MIDI 1", False

        def close(self):
            self.closed = True

    lines = []
    rc = RemoteControl(registry.target, LIVE_MODES, (0.05, 0.5), log=lines.append)
    port = rc.midi_in = OpenPort()
    assert rc.check_midi(lambda: ["Midi Through", "Keystation 49 MIDI 1"]) and not port.closed and not lines
    assert not rc.check_midi(lambda: ["Midi Through"])
    assert port.closed and rc.midi_in is None
    assert lines == [
        "MIDI input 'Keystation 49 MIDI 1' went away (unplugged?); closed it: choose it again when it is back"
    ]
    assert rc.check_midi(lambda: []) and len(lines) == 1  # nothing open any more: nothing to report

    def broken():
        raise SystemError("ALSA sequencer gone")

    rc.midi_in = port2 = OpenPort()
    assert rc.check_midi(broken) and not port2.closed  # the MIDI system vanished: no verdict, no crash
    rc.close()


def test_generate_mode_is_reachable_from_osc_and_midi(default_runner):
    """Generate's switch, temperature and seed have addresses for a bundle with a prior: OSC and MIDI set the live
    generator (switching on selects the streaming mode it plays in), the panel's own writes read back, and bad
    values or a bundle without a prior are refused."""
    from desktop.control.remote import GENERATE_ON, GENERATE_SEED, GENERATE_TEMPERATURE, RemoteControl
    from desktop.engine.parameters.values import HOP_RANGE_S

    eng = LiveEngine()
    eng.set_model(ModelSlot.from_runner(default_runner))
    eng.set_stream_config(StreamConfig("window", 0.2))
    lines = []
    remote = RemoteControl(eng, LIVE_MODES, HOP_RANGE_S, log=lines.append)
    remote.bind_model(default_runner.manifest)
    gen = eng.generator
    assert gen is not None and not gen.settings.on
    assert remote.registry.get(GENERATE_TEMPERATURE) == 1.0 and remote.registry.get(GENERATE_ON) is False
    port = remote.start_osc(0)
    try:
        client = SimpleUDPClient("127.0.0.1", port)
        client.send_message(GENERATE_TEMPERATURE, 0.5)  # exact in OSC's float32
        client.send_message(GENERATE_ON, 1)
        wait_for(lambda: gen.settings.on and gen.settings.temperature == 0.5, "the OSC writes", timeout=5)
    finally:
        remote.close()
    assert eng.config.mode == "streaming"  # Generate plays in the streaming mode only
    remote.midi.learn(GENERATE_SEED)
    remote.midi.handle(mido.Message("control_change", channel=0, control=30, value=127))
    assert gen.settings.seed == 999_999 and isinstance(gen.settings.seed, int)
    before = gen.settings
    for address, value in [(GENERATE_TEMPERATURE, 3.0), (GENERATE_SEED, -1), (GENERATE_ON, float("nan"))]:
        with pytest.raises(ParamError):
            remote.registry.set(address, value)
    assert gen.settings == before
    gen.set_settings(replace(before, temperature=1.5))  # the panel writes the generator directly
    assert remote.registry.get(GENERATE_TEMPERATURE) == 1.5
    assert {GENERATE_ON, GENERATE_TEMPERATURE, GENERATE_SEED} <= set(remote.registry.params)
    remote.bind_model(load_bundle(default_bundle_path().parent / "mel-vae").manifest)  # no prior
    assert not {GENERATE_ON, GENERATE_TEMPERATURE, GENERATE_SEED} & set(remote.registry.params)
