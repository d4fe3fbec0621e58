"""LatentSynth's playing side: bundles run with onnxruntime. Never imports torch or the training side."""
