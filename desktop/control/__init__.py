"""Remote control of the parameter registry: OSC over UDP and MIDI (Qt-free; the app wires them in)."""
