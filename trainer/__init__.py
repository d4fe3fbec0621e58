"""Training of LatentSynth autoencoders on a folder of audio."""
