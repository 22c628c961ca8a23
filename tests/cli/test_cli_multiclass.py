"""The command line with the multiclass compound model: all probabilities, ``--class``."""

from __future__ import annotations

from typing import Any

import pytest

from precimed.samples import sample_files

DILI = "dili-hepatic-injury-qsar"
SAMPLE = str(sample_files(DILI)[0])
CLASSES = ["none", "mild", "severe"]


_CACHE: dict[str, list[dict[str, Any]]] = {}


@pytest.fixture
def predictions(cli: Any) -> list[dict[str, Any]]:
    """``precimed predict`` on the sample, run once for the module (each run loads TensorFlow)."""
    if "rows" not in _CACHE:
        r = cli("predict", "--model", DILI, SAMPLE, "--json")
        assert r.code == 0, r.stderr
        _CACHE["rows"] = r.json()
    return _CACHE["rows"]


def test_predict_gives_every_class_probability(predictions: list[dict[str, Any]]) -> None:
    assert [p["row"] for p in predictions] == list(range(6))
    for p in predictions:
        assert list(p["probabilities"]) == CLASSES
        assert sum(p["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
        assert p["prediction"] == max(p["probabilities"], key=p["probabilities"].get)


def test_explain_chosen_class_adds_up(cli: Any, predictions: list[dict[str, Any]]) -> None:
    r = cli("explain", "--model", DILI, SAMPLE, "--row", "4", "--class", "severe", "--json")
    assert r.code == 0, r.stderr
    out = r.json()
    assert out["class"] == "severe" and len(out["values"]) == 376
    assert abs(out["base_value"] + sum(out["values"].values()) - out["output"]) <= 1e-4
    assert out["output"] == pytest.approx(predictions[4]["probabilities"]["severe"], abs=1e-6)


def test_explain_defaults_to_the_predicted_class_in_text(cli: Any,
                                                          predictions: list[dict[str, Any]]) -> None:
    r = cli("explain", "--model", DILI, SAMPLE, "--row", "0")
    assert r.code == 0, r.stderr
    first = r.stdout.splitlines()[0]
    predicted = predictions[0]["prediction"]
    prob = predictions[0]["probabilities"][predicted]
    assert first.startswith(f"class {predicted}: output {prob:.4f} = base ")


def test_unknown_class_exits_2_with_one_line(cli: Any) -> None:
    r = cli("explain", "--model", DILI, SAMPLE, "--class", "toxic", "--json")
    assert r.code == 2 and r.stdout == ""
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("error: ")]
    assert "Traceback" not in r.stderr and len(lines) == 1
    assert "unknown class 'toxic'" in lines[0] and "['none', 'mild', 'severe']" in lines[0]
