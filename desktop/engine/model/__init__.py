"""Running a bundle's model: the live model slot, Generate mode and its learned prior, morphing, the input range
mapping, Griffin-Lim with its spectral helpers, and where the shipped bundles live."""
