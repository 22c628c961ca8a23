"""A real Orthanc PACS (Debian's, with its DICOMweb plugin) for the PACS tests, once per session.

It starts on a free loopback port from a temporary config (authentication on, DICOM server off,
remote access off, temporary storage) and stops by PID at teardown
(:class:`precimed.pacs.local_orthanc.LocalOrthanc`). If Orthanc or dciodvfy is missing the tests
fail, they do not skip: `make test` installs them (`make pacs-deps`).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pacs_helpers import ACCESSION, CANARY_NAME, LESION_CT, Pacs  # noqa: E402

from precimed.pacs import PacsClient, pacs_config  # noqa: E402
from precimed.pacs.local_orthanc import LocalOrthanc  # noqa: E402


@pytest.fixture(scope="session")
def pacs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pacs]:
    """Orthanc holding: CT_small (with an accession number) and a non-image SR in its study,
    MR_small, and the lesion CT sample."""
    from pydicom.data import get_testdata_file

    folder = tmp_path_factory.mktemp("pacs-sources")
    ct = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    ct.AccessionNumber = ACCESSION
    sr = pydicom.dcmread(get_testdata_file("test-SR.dcm", download=False))
    for kw in ("StudyInstanceUID", "StudyDate", "StudyTime", "StudyID", "AccessionNumber",
               "StudyDescription", "PatientID", "PatientName", "PatientBirthDate", "PatientSex"):
        setattr(sr, kw, ct.get(kw, ""))  # a report in the CT's study, as a PACS would hold it
    lesion = pydicom.dcmread(LESION_CT)
    lesion.PatientName = CANARY_NAME  # a name to look for in logs
    sources = {"ct": ct, "sr": sr, "mr": pydicom.dcmread(get_testdata_file("MR_small.dcm", download=False)),
               "lesion": lesion}
    with LocalOrthanc() as server:
        config = pacs_config({"url": server.url, "user": server.user, "password": server.password}, env={})
        client = PacsClient(config)
        box = Pacs(server, config, client)
        for name, ds in sources.items():
            path = folder / f"{name}.dcm"
            ds.save_as(path)
            box.files[name], box.datasets[name] = path, ds
        client.store([ds for name, ds in sources.items() if name != "lesion"])
        # Orthanc 1.10's STOW-RS refuses this sample when it starts a new study ("Missing a
        # mandatory tag"), though STOW takes objects into its study afterwards: set-up by REST.
        server.upload(box.files["lesion"].read_bytes())
        yield box
