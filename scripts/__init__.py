"""Tools for building corpora, bundles, reports and screenshots, run from the repository root as
``python -m scripts.NAME --help``."""
