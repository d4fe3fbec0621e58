"""The values a front end sets and reads: the parameter registry (addresses, units, ranges), the frozen value
types the engine swaps in and reports back, and presets."""
