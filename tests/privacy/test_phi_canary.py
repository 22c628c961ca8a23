"""PHI canary: identifying data must never reach a file the user did not export with identifiers.

A unique canary (a patient name and ID built from a random token) is planted in a table (one
row per patient, with columns for every installed tabular model) and in DICOM files (Patient's
Name, Patient ID and other PS3.15 attributes). Every flow that exists runs on them: the CLI
(predict, explain, report, score), every page in AppTest (whatever uploader it has, with each
kind of model), the DICOM engine (masking and the PS3.15 de-identified export) and image
prediction when an image model is installed; ``tests/load`` does the same for a busy real server
and its log. After each flow, every file written since (temporary folders, the repository,
caches, Streamlit's and PreciMed's folders in the home directory, the audit log) is searched for
the token, also inside zip, gzip, Parquet and PDF streams (``phi_scan.py``). Only explicit exports with identifiers on
may hold it, and one such export is made on purpose to prove the search finds it.

New pages and uploaders are picked up automatically (the page flow is generic); a new engine
flow is one more entry in ``FLOWS``.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import secrets
import subprocess
import sys
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import phi_scan  # noqa: E402

from precimed.registry import list_bundles  # noqa: E402
from precimed.samples import sample_files  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TOKEN = secrets.token_hex(6).upper()
NAME = f"CANARY{TOKEN}^PHIL"
PATIENT_ID = f"CNRY-{TOKEN}"
PAGES = sorted(p.name for p in (ROOT / "pages").glob("[0-9]*_*.py"))
START = time.time() - 1


def holds_token(data: bytes) -> bool:
    return phi_scan.holds_token(data, TOKEN)


def leaks(since: float, allowed: set[Path], *, full: bool = False) -> list[Path]:
    return phi_scan.leaks(TOKEN, since, allowed, full=full)


# ------------------------------------------------------------------------------- the inputs
@dataclass
class Sandbox:
    root: Path
    table: Path
    dicom: Path
    series: Path
    inputs: set[Path] = field(default_factory=set)
    exports_with_ids: set[Path] = field(default_factory=set)
    image_models: list[str] = field(default_factory=list)
    tabular_models: list[str] = field(default_factory=list)

    @property
    def allowed(self) -> set[Path]:
        return self.inputs | self.exports_with_ids

    def check(self, since: float, *, full: bool = False) -> None:
        found = leaks(since, self.allowed, full=full)
        assert not found, f"the PHI canary {TOKEN} leaked into: {[str(p) for p in found]}"


def canary_table(tabular: list[str]) -> pd.DataFrame:
    """Rows that every installed tabular model can score, headed by the canary identifiers."""
    from precimed.tabular.io import read_table

    parts = [read_table(sample_files(m)[0]) for m in tabular if sample_files(m)]
    n = min(len(p) for p in parts)
    merged = pd.concat([p.iloc[:n].reset_index(drop=True) for p in parts], axis=1)
    merged = merged.loc[:, ~merged.columns.duplicated()]
    ids = pd.DataFrame({"patient_id": [f"{PATIENT_ID}-{k}" for k in range(n)],
                        "patient_name": [f"{NAME}{k}" for k in range(n)]})
    return pd.concat([ids, merged.drop(columns=[c for c in ids if c in merged])], axis=1)


def canary_dicom(image_models: list[str]) -> bytes:
    """A DICOM the image model (if any) can read, carrying the canary in identifying attributes."""
    import pydicom
    from pydicom.data import get_testdata_file

    source = next((p for m in image_models for p in sample_files(m) if p.suffix == ".dcm"), None)
    path = source or Path(get_testdata_file("CT_small.dcm", download=False))
    ds = pydicom.dcmread(path)
    ds.PatientName = NAME
    ds.PatientID = PATIENT_ID
    ds.OtherPatientIDs = f"MRN{TOKEN}"
    ds.PatientBirthDate = "19700101"
    ds.InstitutionName = f"Hospital {TOKEN}"
    ds.ReferringPhysicianName = f"DR{TOKEN}^REFERRER"
    ds.AccessionNumber = f"A{TOKEN}"[:16]
    ds.StudyDescription = f"Study of {NAME}"
    ds.add_new(0x00091001, "LO", f"private {TOKEN}")  # a private tag: removed by the profile
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    root = tmp_path_factory.mktemp("phi-canary")
    bundles = list_bundles()
    tabular = [b.id for b in bundles if b.modality == "tabular"]
    image = [b.id for b in bundles if b.modality == "image"]
    inputs = root / "inputs"
    inputs.mkdir()
    table = inputs / "patients.csv"
    canary_table(tabular).to_csv(table, index=False)
    dicom = inputs / "image.dcm"
    dicom.write_bytes(canary_dicom(image))
    series = inputs / "series.zip"
    with zipfile.ZipFile(series, "w") as zf:
        zf.writestr("series/IM0001.dcm", dicom.read_bytes())
    env = {"PRECIMED_AUDIT_LOG": str(root / "audit.jsonl"),
           "PRECIMED_KEY_FILE": str(root / "pseudonym.key")}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        yield Sandbox(root=root, table=table, dicom=dicom, series=series,
                      inputs={table, dicom, series}, tabular_models=tabular, image_models=image)


# -------------------------------------------------------------------------------- the flows
_CLI_RUNNER = """
import sys, json
from precimed.cli.main import main
for argv in json.loads(sys.argv[1]):
    code = main(argv)
    print(f"\\n@@exit {code}", flush=True)
    print(f"@@exit {code}", file=sys.stderr, flush=True)
"""


def _cli(*commands: list[str]) -> None:
    """Run ``precimed`` commands as a user would, in one child process (TensorFlow loads once);
    each must succeed and print nothing identifying on stdout or stderr."""
    import json

    proc = subprocess.run([sys.executable, "-c", _CLI_RUNNER, json.dumps(list(commands))],
                          capture_output=True, text=True, timeout=600, cwd=ROOT,
                          env=dict(os.environ))
    codes = re.findall(r"@@exit (\d+)", proc.stdout)
    assert proc.returncode == 0 and codes == ["0"] * len(commands), proc.stderr[-2000:]
    assert TOKEN not in proc.stdout and TOKEN not in proc.stderr, "the CLI printed the canary"


def flow_cli_tabular(box: Sandbox) -> None:
    model = box.tabular_models[0]
    exports = box.root / "exports"
    exports.mkdir(exist_ok=True)
    _cli(["predict", "--model", model, str(box.table), "--json"],
         ["explain", "--model", model, str(box.table), "--row", "1", "--json"],
         # a patient report: the identifier must appear only pseudonymised
         ["report", "--model", model, str(box.table), "--row", "0", "--out",
          str(exports / "report.pdf")],
         ["report", "--model", model, str(box.table), "--row", "0", "--out",
          str(exports / "report.html")],
         ["score", "--model", model, "--input", str(box.table), "--json"])  # beside the input
    assert (exports / "report.pdf").stat().st_size > 1000


def flow_exports_with_identifiers(box: Sandbox) -> None:
    """The user exports cohort results keeping the identifier columns: the one place the
    canary may be, and where the search must find it."""
    from precimed.cohort.export import to_safe_csv
    from precimed.cohort.score import score_cohort
    from precimed.registry import get_bundle

    out = score_cohort(get_bundle(box.tabular_models[0]), box.table,
                       keep=["patient_id", "patient_name"])
    assert out.results is not None
    path = box.root / "exports" / "cohort_with_identifiers.csv"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(to_safe_csv(out.results))
    box.exports_with_ids.add(path)
    assert holds_token(path.read_bytes()), "the search does not find the canary it must find"


def flow_dicom_engine(box: Sandbox) -> None:
    import pydicom

    from precimed.dicom import deidentify_bytes, deidentify_files, load_bytes, metadata_rows

    for path in (box.dicom, box.series):
        result = load_bytes(path.read_bytes(), path.name)
        for frame in result.frames:
            assert all(TOKEN not in r.value for r in metadata_rows(frame.header)), \
                "identifying attributes are shown unmasked"
    exports = box.root / "exports"
    exports.mkdir(exist_ok=True)
    clean = deidentify_bytes(box.dicom.read_bytes(), box.dicom.name)
    (exports / "deidentified.dcm").write_bytes(clean)  # an export with identifiers off
    ds = pydicom.dcmread(io.BytesIO(clean))
    assert ds.PatientIdentityRemoved == "YES"
    assert ds.DeidentificationMethodCodeSequence[0].CodeValue == "113100"  # PS3.15 basic profile
    assert TOKEN not in str(ds) and not holds_token(clean)
    many = deidentify_files({"a.dcm": box.dicom.read_bytes(), "b.dcm": box.dicom.read_bytes()})
    assert not any(holds_token(v) for v in many.values())


def flow_cli_imaging(box: Sandbox) -> None:
    model = box.image_models[0]
    (box.root / "exports").mkdir(exist_ok=True)
    _cli(["predict", "--model", model, str(box.dicom), "--json"],
         ["predict", "--model", model, str(box.series), "--json"],
         ["explain", "--model", model, str(box.dicom), "--heatmap",
          str(box.root / "exports" / "heatmap.npy"), "--json"])


@dataclass(frozen=True)
class Flow:
    name: str
    run: Callable[[Sandbox], None]
    needs: Callable[[Sandbox], str | None] = lambda box: None  # why it cannot run, or None


def _needs_image(box: Sandbox) -> str | None:
    return None if box.image_models else "no image model is installed"


FLOWS = [
    Flow("cli-tabular", flow_cli_tabular),
    Flow("export-with-identifiers", flow_exports_with_identifiers),
    Flow("dicom-engine", flow_dicom_engine),
    Flow("cli-imaging", flow_cli_imaging, _needs_image),
]


@pytest.mark.parametrize("flow", FLOWS, ids=lambda f: f.name)
def test_engine_and_cli_flows_leave_no_canary(sandbox: Sandbox, flow: Flow) -> None:
    why = flow.needs(sandbox)
    if why:
        pytest.skip(why)
    since = time.time() - 1
    flow.run(sandbox)
    sandbox.check(since)


def _file_for(types: list[str], box: Sandbox) -> tuple[str, bytes, str]:
    if not types or ".csv" in types:
        return box.table.name, box.table.read_bytes(), "text/csv"
    if ".dcm" in types:
        return box.dicom.name, box.dicom.read_bytes(), "application/dicom"
    if ".zip" in types:
        return box.series.name, box.series.read_bytes(), "application/zip"
    return box.table.name, box.table.read_bytes(), "application/octet-stream"


def drive_page(page: str, model: str | None, box: Sandbox) -> Any:
    """Open a page, pick ``model`` in its model box, switch every source radio to Upload and put
    the matching canary file in every uploader."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "pages" / page), default_timeout=180)
    at.run()
    boxes = [s for s in at.selectbox if (s.key or "").endswith("model")]
    if model and boxes:
        labels = {b.id: b for b in list_bundles()}
        options = boxes[0].options
        wanted = next((o for o in options if labels[model].name in o), None)
        if wanted is None:
            return None
        boxes[0].set_value(model).run()
    for radio in at.radio:
        if "Upload" in radio.options:
            radio.set_value("Upload").run()
    for uploader in at.get("file_uploader"):
        name, data, mime = _file_for(list(uploader.proto.type), box)
        at.file_uploader(key=uploader.key).set_value((name, data, mime)).run()
    assert not at.exception, f"{page}: {at.exception}"
    return at


@pytest.mark.parametrize("page", PAGES)
def test_every_page_with_uploads_leaves_no_canary(sandbox: Sandbox, page: str) -> None:
    since = time.time() - 1
    models = sandbox.tabular_models[:1] + sandbox.image_models[:1]
    ran = [m for m in models if drive_page(page, m, sandbox) is not None]
    if not ran:
        drive_page(page, None, sandbox)
    sandbox.check(since)


def test_the_search_sees_through_compression(tmp_path: Path) -> None:
    """Negative controls: the token hidden in a zip, gzip, Parquet or a Flate PDF stream is found
    (a search that missed these would pass every flow above for the wrong reason)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    plain = f"name,{NAME}\n".encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.csv", plain * 50)
    pbuf = io.BytesIO()
    pq.write_table(pa.table({"n": [PATIENT_ID] * 1000}), pbuf, compression="zstd")
    pdf = b"%PDF-1.4\n1 0 obj <<>>\nstream\n" + zlib.compress(plain) + b"\nendstream\n"
    for data in (plain, buf.getvalue(), gzip.compress(plain), pbuf.getvalue(), pdf,
                 NAME.encode("utf-16-le")):
        assert holds_token(data)
    assert not holds_token(b"CANARY^SOMEONE-ELSE")
    leak = tmp_path / "leak.log"
    since = time.time() - 1
    leak.write_bytes(gzip.compress(plain))
    try:
        assert leaks(since, set()) == [leak]
    finally:
        leak.unlink()  # planted here on purpose: must not fail the final scan


def test_audit_log_holds_no_identifier_and_verifies(sandbox: Sandbox) -> None:
    from precimed import audit

    log = sandbox.root / "audit.jsonl"
    if not log.is_file():
        pytest.skip("no flow wrote the audit log")
    assert not holds_token(log.read_bytes())
    assert audit.verify(log).ok


def test_zz_nothing_written_during_this_module_holds_the_canary(sandbox: Sandbox) -> None:
    """The whole session's traces: the repository (virtual environment included), every
    temporary file and the home directory's folders, since this module started."""
    sandbox.check(START, full=True)
