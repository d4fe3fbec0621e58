"""The live audio path: the devices and their latency, the callback's rings, fade and wake pipe, the worker's
processing chain and resampler, the stream's health and readouts, and the parallel start-up."""
