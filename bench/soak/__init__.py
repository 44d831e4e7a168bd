"""A soak with faults: `python -m bench.soak MINUTES` (see __main__)."""
