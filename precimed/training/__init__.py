"""Reproducible training of the shipped bundles (``make models``).

Training-only dependencies (scikit-survival, pydicom-data) are imported inside the trainers,
so the app never needs them.
"""
