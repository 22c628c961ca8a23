"""Sample inputs shipped in ``assets/samples`` so a new user can try each model in one click.

A model's samples are ``assets/samples/<model id>.<ext>`` or the files in
``assets/samples/<model id>/``.
"""

from __future__ import annotations

from pathlib import Path

SAMPLES_DIR = Path(__file__).resolve().parents[1] / "assets" / "samples"


def sample_files(model_id: str) -> list[Path]:
    """The sample files for a model, sorted by name (empty if none ship)."""
    found = sorted(SAMPLES_DIR.glob(f"{model_id}.*"))
    folder = SAMPLES_DIR / model_id
    if folder.is_dir():
        found += sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    return found
