"""The command-line contract for tabular models (exit codes, JSON shapes, one-line errors)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from precimed.samples import sample_files

GENOMIC = "breast-metastasis-gse7390"
SAMPLE = str(sample_files(GENOMIC)[0])


def _one_error_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert "Traceback" not in stderr
    errors = [ln for ln in lines if ln.startswith("error: ")]
    assert len(errors) == 1, stderr
    return errors[0]


def test_models_json(cli) -> None:  # type: ignore[no-untyped-def]
    r = cli("models", "--json")
    assert r.code == 0, r.stderr
    cards = r.json()
    assert {"breast-metastasis-gse7390", "breast-cytology-wdbc"} <= {c["id"] for c in cards}
    assert all("weights_sha256" in c and "intended_use" in c for c in cards)


def test_predict_json(cli) -> None:  # type: ignore[no-untyped-def]
    r = cli("predict", "--model", GENOMIC, SAMPLE, "--json")
    assert r.code == 0, r.stderr
    rows = r.json()
    assert [x["row"] for x in rows] == list(range(6))
    for x in rows:
        assert set(x["probabilities"]) == {"no metastasis", "metastasis"}
        assert sum(x["probabilities"].values()) == pytest.approx(1.0)
        assert x["prediction"] in x["probabilities"]
    assert "note: Ignored 1 column" in r.stderr


def test_explain_json_adds_up(cli) -> None:  # type: ignore[no-untyped-def]
    r = cli("explain", "--model", GENOMIC, SAMPLE, "--row", "2", "--json")
    assert r.code == 0, r.stderr
    out = r.json()
    assert {"base_value", "output", "values", "feature_values"} <= set(out)
    assert len(out["values"]) == 80 and out["feature_values"]["er"] in ("negative", "positive")
    assert abs(out["base_value"] + sum(out["values"].values()) - out["output"]) <= 1e-4
    pred = cli("predict", "--model", GENOMIC, SAMPLE, "--json").json()[2]
    assert out["output"] == pytest.approx(pred["probabilities"]["metastasis"], abs=1e-6)


def test_stdout_is_only_json(cli_process) -> None:  # type: ignore[no-untyped-def]
    r = cli_process("predict", "--model", GENOMIC, SAMPLE, "--json")
    json.loads(r.stdout)  # nothing but JSON on stdout


@pytest.mark.parametrize(("args", "message"), [
    (["predict", "--model", "nope", SAMPLE, "--json"], "unknown model 'nope'"),
    (["predict", "--model", GENOMIC, "missing.csv", "--json"], "missing.csv: no such file"),
    (["explain", "--model", GENOMIC, SAMPLE, "--row", "99", "--json"], "row 99 does not exist"),
    (["explain", "--model", GENOMIC, SAMPLE, "--class", "x", "--json"], "unknown class 'x'"),
    (["predict", "--json"], "required"),
    (["frobnicate"], "invalid choice"),
])
def test_usage_errors_exit_2_with_one_line(cli_process, args, message) -> None:  # type: ignore[no-untyped-def]
    r = cli_process(*args)
    assert r.code == 2
    assert message in _one_error_line(r.stderr)
    assert r.stdout == ""


def test_wrong_columns_exit_2(cli_process, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.csv"
    bad.write_text("foo,bar\n1,2\n")
    r = cli_process("predict", "--model", GENOMIC, str(bad), "--json")
    assert r.code == 2
    line = _one_error_line(r.stderr)
    assert "80 required column(s) missing" in line and "expected" in line


def test_bad_row_reported_in_json(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    text = Path(SAMPLE).read_text().splitlines()
    header = text[0].split(",")
    cells = text[1].split(",")
    cells[header.index("size")] = "big"
    bad = tmp_path / "one_bad.csv"
    bad.write_text("\n".join([text[0], ",".join(cells), *text[2:]]) + "\n")
    r = cli("predict", "--model", GENOMIC, str(bad), "--json")
    assert r.code == 0
    rows = r.json()
    assert rows[0] == {"row": 0, "error": "'size' is 'big', not a number"}
    assert "probabilities" in rows[1]
