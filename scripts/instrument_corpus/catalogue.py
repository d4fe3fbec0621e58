"""What the instrument corpus is made of: the instruments, the synthesiser sources and their licences, the
synthetic rooms, the label frames and the manifest's columns."""

from __future__ import annotations

from dataclasses import dataclass

SR = 22050
RENDER_SR = 44100  # rendered at 44.1 kHz (sample playback and physical models alias less), then resampled
HOP = 256
LOUDNESS_WINDOW = 1024
SILENCE_DB = -100.0
BEND_RANGE = 12  # semitones at full pitch bend (set by RPN 0 in every MIDI file): glides up to a fifth and more
CHANNELS = 8  # notes rotate over these MIDI channels so a release keeps its own bend
CONTROL_STEP = 0.01  # s between bend / expression updates
TICKS_PER_SECOND = 1000  # MIDI: 1000 ticks per beat at 60 bpm, so a tick is 1 ms
TAIL_DB = 30.0  # after a note ends, its f0 is kept while the frame is within this of the level at the note's end
TAIL_MAX_S = 0.4
GENERATOR = "scripts/build_instrument_corpus.py"
HELDOUT_SHARE, SECOND_SHARE = 0.15, 0.25  # of --minutes: held-out phrases; each second source
ROOM_EVERY = 3  # every third train phrase (0, 3, 6, ...) also gets a reverberant copy

FLUID_SF2 = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
TIMGM_SF2 = "/usr/share/sounds/sf2/TimGM6mb.sf2"
MUSESCORE_SF = (
    "/usr/share/sounds/sf3/MuseScore_General.sf3",
    "/usr/share/sounds/sf3/MuseScore_General_Full.sf3",
    "/usr/share/sounds/sf2/MuseScore_General.sf2",
)
FIELDS = [
    "split",
    "category",
    "source",
    "debian_package",
    "license",
    "kind",
    "original",
    "original_sr",
    "duration_s",
    "file",
    "credit",
    "instrument",
    "room",
    "f0_file",
    "loudness_file",
    "voiced_s",
    "f0_min_hz",
    "f0_max_hz",
    "loudness_p5_db",
    "loudness_p95_db",
    "generator",
]


@dataclass(frozen=True)
class Instrument:
    program: int  # General MIDI program (0-based)
    low: int  # playable range, MIDI notes
    high: int
    stk: str  # STK instrument of the physical-model second source
    legato_share: float = 0.5


INSTRUMENTS = {
    "violin": Instrument(40, 55, 93, "Bowed"),
    "flute": Instrument(73, 60, 96, "Flute"),
    "clarinet": Instrument(71, 50, 89, "Clarinet"),
    "choir": Instrument(52, 45, 79, "VoicForm", legato_share=0.7),
    "alto_sax": Instrument(65, 49, 80, "Saxofony"),
    "cello": Instrument(42, 36, 76, "Bowed"),
}
DEFAULT_INSTRUMENTS = "violin,flute,clarinet,choir"


@dataclass(frozen=True)
class Source:
    name: str
    debian_package: str
    license: str
    credit: str
    kind: str  # {instrument} and {synth} are filled in
    # a physical model: its render is not repeatable (STK seeds its noise from the clock) and it can jump to an
    # upper register (a clarinet to the twelfth), so its labels follow the register the audio is in
    follows_register: bool = False


SOURCES = {
    "fluidr3_gm": Source(
        "fluidr3_gm",
        "fluid-soundfont-gm",
        "MIT",
        "Fluid (R3) GM SoundFont, Frank Wen and contributors (MIT)",
        "fluidsynth render of generated {instrument} phrases ({synth}); f0 from the MIDI (note + bend) and each "
        "key's measured tuning (tuning.json)",
    ),
    "musescore_general": Source(
        "musescore_general",
        "musescore-general-soundfont",
        "MIT (parts CC0 / public domain)",
        "MuseScore_General, S. Christian Collins; its violin, flute, clarinet and choir presets use the Fluid (R3) "
        "Mono samples, Michael Cowgill / Frank Wen (MIT)",
        "fluidsynth render of generated {instrument} phrases ({synth}); f0 from the MIDI (note + bend) and each "
        "key's measured tuning (tuning.json); "
        "for violin, flute, clarinet and choir the SAME recordings as fluidr3_gm (mono edit, other programming)",
    ),
    "timgm6mb": Source(
        "timgm6mb",
        "timgm6mb-soundfont",
        "GPL-2",
        "TimGM6mb, Tim Brechbill (2004; samples his own, public domain or GPL), David Bolton (2010)",
        "fluidsynth render of generated {instrument} phrases ({synth}); f0 from the MIDI (note + bend) and each "
        "key's measured tuning (tuning.json); other recordings than fluidr3_gm's",
    ),
    "stk": Source(
        "stk",
        "stk",
        "MIT-style STK licence (Perry R. Cook, Gary P. Scavone)",
        "Synthesis ToolKit (STK) physical model, Perry R. Cook and Gary P. Scavone",
        "stk-demo physical model ({synth}) playing generated {instrument} phrases; f0 from the frequency it is set "
        "to (note + bend) and each key's measured tuning (tuning.json); its pitch also moves with pressure, so "
        "see label_check.json; where the model jumps to an upper register (a clarinet's twelfth) the label follows "
        "the sound",
        follows_register=True,
    ),
}
SECOND_SOURCES = ("musescore_general", "stk", "timgm6mb")  # rendered for every instrument's second_source/
ROOMS = {  # synthetic impulse responses: direct sound + exponentially decaying noise, treble decaying twice as fast
    "room": dict(rt60=0.45, predelay=0.008, drr_db=3.0, seed=1),
    "hall": dict(rt60=1.8, predelay=0.025, drr_db=-3.0, seed=2),
}


class CorpusError(Exception):
    """Bad input: printed as one line, exit status 2."""
