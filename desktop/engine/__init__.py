"""The Qt-free engine: the live audio path and its threads, parameters, presets, recording, the file jobs; it runs
bundles through core/ (sessions, streaming, overlap-add, latent controls, rendering)."""
