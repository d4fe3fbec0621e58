"""The parts of the instrument corpus builder; ``python -m scripts.build_instrument_corpus`` is the command."""
