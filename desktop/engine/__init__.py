"""The Qt-free engine, grouped by concern: audio/ (the live path: device, callback, rings, worker, readouts),
model/ (running a bundle: the model slot, Generate mode and its prior, morphing, range mapping, Griffin-Lim, the
shipped bundles), parameters/ (the registry, the value types, presets) and files/ (rendering, export, recording);
bundles run through core/ (sessions, streaming, overlap-add, latent controls, rendering)."""
