"""Imaging benchmark: decode + window, a 100-slice series, one image's explanation vs a baseline.

``python benchmarks/bench_imaging.py --json`` prints ``{"machine": …, "figures": […]}``
(shared/CONVENTIONS.md): medians over repeats after a warm-up, both sides in the same run.

Figures:
- decode + window of one 512×512 CT slice (pydicom-data ``693_UNCI.dcm``): ours
  (``load_bytes`` + ``render``) vs pydicom's plain ``dcmread`` + ``pixel_array`` +
  ``apply_modality_lut`` + ``apply_voi_lut`` (the same work without PreciMed's checks);
- a 100-slice series (that slice copied 100 times with its own position and UIDs, zipped in
  memory): safe unzip + decode + slice order + window of every slice, vs the same with plain
  pydicom and ``zipfile``;
- one image's SHAP explanation at the model's input size: ours (``shap.GradientExplainer``,
  128 samples, black baseline) vs the Partition explainer with ``shap.maskers.Image("blur(16,16)")`` at
  ``max_evals=500`` (SHAP's image example settings) and at 2000, on the same image.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MODEL_ID = "lesion-cnn-synthetic"


def median_ms(fn: Any, repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return float(statistics.median(times))


def ct_slice_bytes() -> bytes:
    from pydicom.data import get_testdata_file

    path = get_testdata_file("693_UNCI.dcm", download=False)
    if path is None:
        raise SystemExit("693_UNCI.dcm missing: install pydicom-data (the train extra)")
    return Path(path).read_bytes()


def series_zip(data: bytes, n: int = 100) -> bytes:
    import pydicom
    from pydicom.uid import generate_uid

    ds = pydicom.dcmread(io.BytesIO(data))
    buf = io.BytesIO()
    order = np.random.default_rng(0).permutation(n)  # stored out of order on purpose
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for k in order:
            ds.ImagePositionPatient = [0.0, 0.0, float(k) * 2.5]
            ds.InstanceNumber = int(k) + 1
            ds.SOPInstanceUID = generate_uid(entropy_srcs=["bench", str(k)])
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            out = io.BytesIO()
            ds.save_as(out, enforce_file_format=True)
            zf.writestr(f"series/IM{k:04d}.dcm", out.getvalue())
    return buf.getvalue()


def plain_pydicom(data: bytes) -> np.ndarray:
    import pydicom
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    ds = pydicom.dcmread(io.BytesIO(data))
    arr = apply_voi_lut(apply_modality_lut(ds.pixel_array, ds), ds)
    return np.asarray(arr)


def figures(quick: bool) -> list[dict[str, Any]]:
    from precimed.dicom import PRESETS, load_bytes, render

    out: list[dict[str, Any]] = []
    data = ct_slice_bytes()
    reps = 5 if quick else 30

    def ours_slice() -> None:
        render(load_bytes(data, "ct.dcm").frames[0], PRESETS["soft tissue"])

    ours = median_ms(ours_slice, reps, warmup=3)
    base = median_ms(lambda: plain_pydicom(data), reps, warmup=3)
    out.append({"name": "decode + window, one 512×512 CT slice", "ours_ms": round(ours, 2),
                "baseline": "pydicom dcmread + pixel_array + apply_modality_lut + apply_voi_lut",
                "baseline_ms": round(base, 2), "ratio": round(base / ours, 2), "target_ms": 10})

    zipped = series_zip(data)

    def ours_series() -> None:
        result = load_bytes(zipped, "series.zip")
        for f in result.frames:
            render(f, PRESETS["soft tissue"])

    def plain_series() -> None:
        with zipfile.ZipFile(io.BytesIO(zipped)) as zf:
            for name in zf.namelist():
                plain_pydicom(zf.read(name))

    reps_s = 2 if quick else 5
    ours = median_ms(ours_series, reps_s)
    base = median_ms(plain_series, reps_s)
    out.append({"name": "100-slice CT series: unzip + decode + order + window", "ours_ms": round(ours, 1),
                "baseline": "zipfile + plain pydicom per slice (no safety checks, no ordering)",
                "baseline_ms": round(base, 1), "ratio": round(base / ours, 2), "target_ms": 1500})

    out.extend(explanation_figures(quick))
    return out


def explanation_figures(quick: bool) -> list[dict[str, Any]]:
    import shap

    from precimed.dicom import load_bytes
    from precimed.imaging import frame_input
    from precimed.imaging.explain import NSAMPLES, explain_input
    from precimed.registry import get_bundle

    bundle = get_bundle(MODEL_ID)
    sample = next(p for p in (Path(__file__).resolve().parents[1] / "assets" / "samples" / MODEL_ID)
                  .iterdir() if "simulated-lesion" in p.name)
    x = frame_input(bundle, load_bytes(sample.read_bytes(), sample.name).frames[0])
    reps = 3 if quick else 10
    ours = median_ms(lambda: explain_input(bundle, x), reps, warmup=2)

    model = bundle.model()

    def f(batch: np.ndarray) -> np.ndarray:
        return np.asarray(model(np.asarray(batch, dtype=np.float32), training=False))

    masker = shap.maskers.Image("blur(16,16)", x.shape)
    partition = shap.Explainer(f, masker, algorithm="partition")

    rows = []
    for evals, note in ((500, "SHAP's image-example setting"),
                        (2000, "finer")):
        base = median_ms(lambda e=evals: partition(x[np.newaxis], max_evals=e, batch_size=50,
                                                   silent=True), 2 if quick else 5, warmup=1)
        rows.append({
            "name": f"one image's SHAP explanation ({x.shape[0]}×{x.shape[1]} model input), "
                    f"vs Partition at {evals} evaluations",
            "ours_ms": round(ours, 1),
            "ours": f"shap.GradientExplainer, {NSAMPLES} samples, background: "
                    f"{bundle.card['explanation']['background'].split(' (')[0]}",
            "baseline": f"shap Partition explainer, maskers.Image('blur(16,16)'), max_evals={evals} "
                        f"({note})",
            "baseline_ms": round(base, 1), "ratio": round(base / ours, 2), "target_ms": 1000})
    return rows


def machine() -> dict[str, Any]:
    import pydicom
    import shap

    return {"python": platform.python_version(), "platform": platform.platform(),
            "cpus": os.cpu_count(), "pydicom": pydicom.__version__, "shap": shap.__version__}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quick", action="store_true", help="fewer repeats (smoke test)")
    args = parser.parse_args(argv)
    result = {"machine": machine(), "figures": figures(args.quick)}
    if args.json:
        print(json.dumps(result))
    else:
        for fig in result["figures"]:
            print(f"{fig['name']}: ours {fig['ours_ms']} ms, baseline {fig['baseline_ms']} ms "
                  f"({fig['baseline']}), ratio {fig['ratio']}×")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
