"""The hostile corpus (tests/data/hostile): each file ends in the expected clean refusal or a
correct result, in a child process with a capped address space, quickly and in bounded memory.
Tables that only look different (BOM, semicolons, Latin-1) must give the very same values, and
formula cells must be neutralised when results are exported."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = ROOT / "tests" / "data" / "hostile"
sys.path.insert(0, str(HOSTILE))

import make_hostile  # noqa: E402

from precimed.tabular.io import read_table  # noqa: E402
from precimed.tabular.validate import validate_table  # noqa: E402


@pytest.fixture(scope="module")
def report() -> dict:  # type: ignore[type-arg]
    proc = subprocess.run([sys.executable, "-W", "ignore", str(HOSTILE / "make_hostile.py"),
                           "--check", "--json", "--limit-mb", "1536"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert lines, proc.stderr[-3000:]
    return json.loads(lines[-1])


def test_every_case_ends_cleanly_as_expected(report: dict) -> None:  # type: ignore[type-arg]
    assert report["cases"] == len(make_hostile.CASES) >= 40
    bad = [f"{r['case']}: {r['outcome']}: {r['message']}" for r in report["failures"]]
    assert not bad, "\n".join(bad)


def test_refusals_are_fast_and_memory_is_bounded(report: dict) -> None:  # type: ignore[type-arg]
    for r in report["results"]:
        assert r["seconds"] < 5.0, f"{r['case']} took {r['seconds']} s"
        # The decompression bombs stand for 0.26–1 GB; refusing one may cost a few MiB.
        assert r["rss_growth_mb"] < 256, f"{r['case']} grew RSS by {r['rss_growth_mb']} MiB"


def test_bombs_and_absurd_sizes_are_refused_before_allocating(report: dict) -> None:  # type: ignore[type-arg]
    by_case = {r["case"]: r for r in report["results"]}
    for name in ("absurd_dimensions_frames.dcm", "absurd_dimensions_single.dcm",
                 "deflate_bomb.dcm", "zip_bomb_ratio.zip", "parquet_rows_bomb.parquet",
                 "parquet_text_bomb.parquet", "sniffer_redos.csv", "ten_thousand_columns.csv"):
        assert by_case[name]["outcome"] == "refused", name
        assert by_case[name]["rss_growth_mb"] < 64, by_case[name]


def _frame(name: str) -> pd.DataFrame:
    card = make_hostile._card()
    return validate_table(read_table((HOSTILE / name).read_bytes(), name), card).frame


@pytest.mark.parametrize("name", ["byte_order_mark.csv", "semicolons.csv", "latin1.csv",
                                  "formula_injection.csv"])
def test_odd_but_valid_tables_give_the_same_values(name: str) -> None:
    pd.testing.assert_frame_equal(_frame(name), _frame("plain.csv"))


def test_latin1_names_are_decoded() -> None:
    raw = read_table((HOSTILE / "latin1.csv").read_bytes(), "latin1.csv")
    assert raw["name"].iloc[0] == "José Müller" and raw.columns[0] == "name"
    plain = read_table((HOSTILE / "plain.csv").read_bytes(), "plain.csv")
    bom = read_table((HOSTILE / "byte_order_mark.csv").read_bytes(), "bom.csv")
    assert list(bom.columns) == list(plain.columns) and not bom.columns[0].startswith("\ufeff")


def test_formula_injection_is_neutralised_on_export(tmp_path: Path) -> None:
    """Cohort export (CSV written by score_cohort and the download bytes) of a table whose
    identifier and note columns hold spreadsheet formulas."""
    from precimed.cohort.export import to_safe_csv
    from precimed.cohort.score import score_cohort
    from precimed.registry import get_bundle

    bundle = get_bundle("breast-cytology-wdbc")
    src = HOSTILE / "formula_injection.csv"
    out = tmp_path / "scores.csv"
    score_cohort(bundle, src, keep=["patient_id", "note"], output=out)
    in_memory = score_cohort(bundle, src, keep=["patient_id", "note"]).results
    assert in_memory is not None
    for label, text in (("file", out.read_text("utf-8")),
                        ("download", to_safe_csv(in_memory).decode("utf-8"))):
        rows = list(csv.reader(io.StringIO(text)))
        header, body = rows[0], rows[1:]
        assert len(body) == len(pd.read_csv(src)), label
        for row in body:
            for col, value in zip(header, row, strict=True):
                if value[:1] in ("=", "+", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff20"):
                    pytest.fail(f"{label}: {col} = {value!r} would run as a formula")
                if value.startswith("-"):
                    float(value)  # only numbers may start with a minus sign
        ids = [r[header.index("patient_id")] for r in body]
        assert ids[0].startswith("'=HYPERLINK("), label  # kept for the reader, but inert
