"""The Qt-free engine: bundle loading, onnxruntime sessions, overlap-add, latent controls, rendering."""
