"""Helpers for the PACS tests (the fixture is in conftest.py)."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pydicom

from precimed.pacs import PacsClient, PacsConfig
from precimed.pacs.local_orthanc import LocalOrthanc

ROOT = Path(__file__).resolve().parents[2]
LESION_CT = ROOT / "assets" / "samples" / "lesion-cnn-synthetic" / "ct_abdomen_heldout_simulated-lesion.dcm"
ACCESSION = "PM-ACC-0013"
CANARY_NAME = "PHICANARY^PACS"


@dataclass
class Pacs:
    server: LocalOrthanc
    config: PacsConfig
    client: PacsClient
    files: dict[str, Path] = field(default_factory=dict)  # stored copies, by short name
    datasets: dict[str, pydicom.Dataset] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        return {"PRECIMED_PACS_URL": self.server.url, "PRECIMED_PACS_USER": self.server.user,
                "PRECIMED_PACS_PASSWORD": self.server.password}


def dciodvfy_errors(path: Path) -> list[str]:
    """The ``Error`` lines dciodvfy prints for ``path`` (element paths and values normalised
    away, so that the same defect in source and output compares equal)."""
    exe = shutil.which("dciodvfy")
    assert exe, "dciodvfy is missing: run `make pacs-deps` (Debian dicom3tools)"
    out = subprocess.run([exe, str(path)], capture_output=True, text=True, timeout=60)
    lines = (out.stdout + out.stderr).splitlines()
    return sorted({re.sub(r"<[^>]*>\s*=\s*<[^>]*>", "<…>", line.split(" - ", 1)[-1])
                   for line in lines if line.startswith("Error")})
