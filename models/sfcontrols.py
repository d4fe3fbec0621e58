"""The knobs the source-filter family declares (the manifest's ``controls``): pitch, transpose, formant, breath."""

from __future__ import annotations


def controls() -> list[dict]:
    """The knobs this family means (the manifest's ``controls``)."""

    def ctl(name, unit, lo, hi, default, channel, transform, scale, description):
        return {
            "name": name,
            "unit": unit,
            "minimum": lo,
            "maximum": hi,
            "default": default,
            "level": "control",
            "channel": channel,
            "transform": transform,
            "scale": scale,
            "description": description,
        }

    return [
        ctl(
            "pitch",
            "MIDI note",
            21.0,
            108.0,
            69.0,
            0,
            "set",
            1.0 / 12.0,
            "while held, the voice sings this note (69 = A4 = 440 Hz) instead of the input's pitch; transpose still adds on top",
        ),
        ctl(
            "transpose",
            "semitones",
            -24.0,
            24.0,
            0.0,
            0,
            "add",
            1.0 / 12.0,
            "moves the pitch by this many semitones; the formants stay where they are",
        ),
        ctl(
            "formant",
            "semitones",
            -12.0,
            12.0,
            0.0,
            2,
            "add",
            1.0 / 12.0,
            "moves the spectral envelope (vowel colour, voice size) up or down; the pitch stays",
        ),
        ctl(
            "breath",
            "dB",
            -20.0,
            20.0,
            0.0,
            3,
            "add",
            0.1,
            "more breath: the harmonic part this many dB quieter, the noise part fills in (negative: clearer)",
        ),
    ]
