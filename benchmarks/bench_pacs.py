"""PACS benchmark: the round trip for one CT instance against a real Orthanc, vs the same work
on the local file.

``python benchmarks/bench_pacs.py --json`` prints ``{"machine": …, "figures": […]}``
(shared/CONVENTIONS.md): medians over repeats after a warm-up, both sides in the same run.

Figures (one CT instance, the lesion sample, 512×512):
- round trip, warm: search the study by date and modality (QIDO-RS), list its series, retrieve the
  series (WADO-RS, through the upload checks), predict, explain (SHAP), build the SR and the
  Parametric Map (highdicom) and store both (STOW-RS); target ≤ 3 s on 2 cores;
- baseline: the same predict + explain on the local file (``load_path`` + ``score_frames`` +
  ``explain_image``), so the ratio is the PACS and DICOM-output overhead;
- the parts: search + list, retrieve, build the two objects, store them.
The machine's load average is recorded beside the figures: this machine is shared.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import figure, median_ms, report  # noqa: E402

MODEL_ID = "lesion-cnn-synthetic"
SAMPLE = (Path(__file__).resolve().parents[1] / "assets" / "samples" / MODEL_ID
          / "ct_abdomen_heldout_simulated-lesion.dcm")
TARGET_MS = 3000.0


def _proc_cpu_s(pid: int | None) -> float:
    """User + system CPU seconds of ``pid`` (this process when None)."""
    if pid is None:
        t = os.times()
        return t.user + t.system
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_ms(fn: Any, repeats: int, server_pid: int | None) -> float:
    """Median CPU milliseconds of ``fn()``, counting the server process's CPU too."""
    import statistics

    times = []
    for _ in range(repeats):
        start = _proc_cpu_s(None) + (_proc_cpu_s(server_pid) if server_pid else 0.0)
        fn()
        end = _proc_cpu_s(None) + (_proc_cpu_s(server_pid) if server_pid else 0.0)
        times.append((end - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    import pydicom

    from precimed.dicom import load_path
    from precimed.dicom.results import SeriesPlan, result_objects
    from precimed.imaging import explain_image, frame_image
    from precimed.imaging.service import score_frames
    from precimed.pacs import PacsClient, build_results, pacs_config
    from precimed.pacs.local_orthanc import LocalOrthanc
    from precimed.registry import get_bundle

    bundle = get_bundle(MODEL_ID)
    src = pydicom.dcmread(SAMPLE)
    with LocalOrthanc() as server:
        client = PacsClient(pacs_config({"url": server.url, "user": server.user,
                                         "password": server.password}, env={}))
        server.upload(SAMPLE.read_bytes())  # see tests/pacs/conftest.py (Orthanc STOW quirk)
        # Search by date and modality: Orthanc 1.10 finds no patient ID that contains "_"
        # (this sample's is PANCREAS_0001; QIDO-RS returns an empty list).
        when = str(src.StudyDate)

        def round_trip() -> list[str]:
            [study] = client.search_studies(study_date=when, modality="CT", with_series=False)
            series = [s for s in client.list_series(study.study_uid) if s.modality == "CT"]
            got = client.retrieve_series(study.study_uid, series[0].series_uid)
            [frame] = got.result.frames
            [row] = score_frames(bundle, [frame])
            expl = explain_image(bundle, frame_image(frame))
            objs = build_results(bundle, got.datasets[frame.source], frame, row["probabilities"],
                                 row["prediction"], expl, plan=SeriesPlan())
            return client.store(objs, study_uid=study.study_uid)

        def local() -> None:
            [frame] = load_path(SAMPLE).frames
            score_frames(bundle, [frame])
            explain_image(bundle, frame_image(frame))

        ours = median_ms(round_trip, repeats=args.repeats, warmup=2)
        base = median_ms(local, repeats=args.repeats, warmup=2)
        # CPU seconds (ours: this process and Orthanc's), which on two idle cores is about the
        # wall time: this machine is shared, so the wall figures carry other work's waiting.
        ours_cpu = _cpu_ms(round_trip, args.repeats, server.pid)
        base_cpu = _cpu_ms(local, args.repeats, None)
        study_uid, series_uid = str(src.StudyInstanceUID), str(src.SeriesInstanceUID)
        search = median_ms(lambda: client.list_series(client.search_studies(
            study_date=when, modality="CT", with_series=False)[0].study_uid), repeats=args.repeats, warmup=1)
        fetch = median_ms(lambda: client.retrieve_series(study_uid, series_uid), repeats=args.repeats, warmup=1)
        [frame] = load_path(SAMPLE).frames
        [row] = score_frames(bundle, [frame])
        expl = explain_image(bundle, frame_image(frame))
        from precimed.dicom.results import ModelResult

        result = ModelResult.from_card(bundle.card, row["probabilities"], row["prediction"],
                                       explained_class=expl.class_name, heatmap=expl.heatmap)
        build = median_ms(lambda: result_objects(src, result), repeats=args.repeats, warmup=1)
        batches = [result_objects(src, result) for _ in range(args.repeats + 1)]
        objs = batches[0]
        store = median_ms(lambda: client.store(batches.pop()), repeats=args.repeats, warmup=1)
    load = os.getloadavg()
    extra: dict[str, Any] = {"load_avg_1m": round(load[0], 2), "cpus": os.cpu_count()}
    figures = [
        figure("PACS round trip, one CT instance (warm)", ours, "predict + explain, local file", base,
               target_ms=TARGET_MS, **extra),
        figure("PACS round trip, CPU time (≈ wall on 2 idle cores)", ours_cpu,
               "predict + explain, local file, CPU time", base_cpu, target_ms=TARGET_MS, **extra),
        figure("  search + list series (QIDO-RS)", search, "-", None, **extra),
        figure("  retrieve series (WADO-RS + upload checks)", fetch, "-", None, **extra),
        figure("  build SR + Parametric Map (highdicom)", build, "-", None, objects=len(objs), **extra),
        figure("  store SR + Parametric Map (STOW-RS)", store, "-", None, **extra),
    ]
    report(figures, args.json)
    if not args.json:
        print(f"load average {load[0]:.2f} (1 min) on {os.cpu_count()} CPUs; {time.strftime('%H:%M')}")


if __name__ == "__main__":
    main()
