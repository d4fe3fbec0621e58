"""What the trainer, the exporter and the player share, in one place: audio files, the bundle schema and its
reader and writer, command-line values, safe output paths, and running a bundle offline (onnxruntime sessions,
latent knobs, overlap-add, streaming, rendering). numpy, onnxruntime and soundfile only: never torch, Qt or the
other packages (tests/test_import_rules.py)."""
