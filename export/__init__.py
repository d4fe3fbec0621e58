"""Checkpoint -> ONNX parts -> a validated, checksummed model bundle."""
