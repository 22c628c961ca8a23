"""Bring your own model: a good bundle installs (checksum recorded, marked user-supplied, usable
by the CLI); Lambda layers, custom objects, hostile zips, wrong checksums, invalid cards and
shape mismatches are refused with a clear message and nothing is installed."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from precimed import registry
from precimed.errors import BundleError
from precimed.importing import import_bundle_bytes
from precimed.samples import sample_files

SOURCE = registry.REPO_MODELS_DIR / "breast-cytology-wdbc"
NEW_ID = "byo-cytology"


def _card(**changes: Any) -> dict[str, Any]:
    card = json.loads((SOURCE / "card.json").read_text())
    card.update({"id": NEW_ID, "name": "Imported cytology MLP", **changes})
    return card


def _zip(files: dict[str, bytes], folder: str = "") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(folder + name, data)
    return buf.getvalue()


def _bundle(card: dict[str, Any] | None = None, model: bytes | None = None, folder: str = "",
            **extra: bytes) -> bytes:
    files = {"model.keras": model if model is not None else (SOURCE / "model.keras").read_bytes(),
             "card.json": json.dumps(card if card is not None else _card()).encode(),
             "background.csv": (SOURCE / "background.csv").read_bytes(), **extra}
    return _zip(files, folder)


def _none_sha(card: dict[str, Any]) -> dict[str, Any]:
    card.pop("weights_sha256", None)
    return card


@pytest.fixture
def user_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "user-models"
    monkeypatch.setenv("PRECIMED_USER_MODELS_DIR", str(path))
    return path


@pytest.fixture(scope="module")
def hostile_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """model.keras files with the WDBC input shape: a Lambda layer, an unregistered custom
    layer, and a config rewritten to name a non-Keras callable."""
    import keras

    out: dict[str, bytes] = {}
    folder = tmp_path_factory.mktemp("hostile-models")

    class Doubler(keras.layers.Layer):  # deliberately not registered
        def call(self, x: Any) -> Any:
            return x * 2.0

    for name, layer in (("lambda", keras.layers.Lambda(lambda t: t * 2.0)), ("custom", Doubler())):
        inp = keras.Input((30,), name="x")
        model = keras.Model(inp, keras.layers.Dense(1, activation="sigmoid")(layer(inp)))
        path = folder / f"{name}.keras"
        model.save(path)
        out[name] = path.read_bytes()
    # A config that asks Keras to build `os.system`: must never reach the deserialiser.
    src = zipfile.ZipFile(SOURCE / "model.keras")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "config.json":
                cfg = json.loads(data)
                cfg["config"]["layers"][1]["module"] = "os"
                cfg["config"]["layers"][1]["class_name"] = "system"
                data = json.dumps(cfg).encode()
            zf.writestr(info, data)
    out["foreign"] = buf.getvalue()
    return out


def test_good_bundle_installs_marked_user_supplied_and_predicts(user_dir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    card = _card()
    del card["weights_sha256"]  # not stated: computed and recorded
    zpath = user_dir.parent / "bundle.zip"
    zpath.write_bytes(_bundle(card, folder="byo-cytology/"))
    res = cli("import-model", str(zpath), "--json", env={"PRECIMED_USER_MODELS_DIR": str(user_dir)})
    assert res.code == 0, res.stderr
    out = res.json()
    assert out["id"] == NEW_ID and out["user_supplied"] is True and out["replaced"] is False
    assert out["weights_sha256"] == registry.sha256_file(SOURCE / "model.keras")
    installed = json.loads((user_dir / NEW_ID / "card.json").read_text())
    assert installed["user_supplied"] is True
    assert installed["weights_sha256"] == out["weights_sha256"]
    assert installed["explanation"]["background_sha256"] == registry.sha256_file(
        SOURCE / "background.csv")
    assert sorted(p.name for p in user_dir.iterdir()) == [NEW_ID]  # no staging left behind
    bundle = registry.get_bundle(NEW_ID)
    assert bundle.card["user_supplied"] is True and bundle.path == user_dir / NEW_ID
    from precimed.predict import predict_table
    from precimed.tabular.io import read_table
    from precimed.tabular.validate import validate_table

    table = validate_table(read_table(sample_files("breast-cytology-wdbc")[0]), bundle.card)
    ref = registry.get_bundle("breast-cytology-wdbc")
    assert [p.probabilities for p in predict_table(bundle, table)] == \
        [p.probabilities for p in predict_table(ref, table)]
    with pytest.raises(BundleError, match="--replace"):
        import_bundle_bytes(zpath.read_bytes(), "bundle.zip")
    assert import_bundle_bytes(zpath.read_bytes(), "bundle.zip", replace=True).replaced is True
    assert sorted(p.name for p in user_dir.iterdir()) == [NEW_ID]
    from precimed.cli.models_cmd import _text

    assert f"{NEW_ID}" in _text([bundle.card]) and "[user-supplied]" in _text([bundle.card])


@pytest.mark.parametrize("kind, message", [
    ("lambda", "Lambda layer"),
    ("custom", "custom object"),
    ("foreign", "custom object 'os.system'"),
])
def test_code_carrying_models_are_refused(user_dir: Path, hostile_models: dict[str, bytes],
                                          kind: str, message: str) -> None:
    model = hostile_models[kind]
    with pytest.raises(BundleError, match=message) as err:
        import_bundle_bytes(_bundle(_none_sha(_card()), model=model), "evil.zip")
    assert "expected:" in str(err.value)
    assert not (user_dir / NEW_ID).exists()


def test_keras_safe_mode_refuses_lambda_on_its_own(tmp_path: Path,
                                                   hostile_models: dict[str, bytes]) -> None:
    """Defence in depth: even without the config scan, loading uses safe_mode=True."""
    path = tmp_path / "model.keras"
    path.write_bytes(hostile_models["lambda"])
    with pytest.raises(BundleError, match="Lambda layer"):
        registry.load_keras_safely(path, label="evil")


@pytest.mark.parametrize("case, message", [
    ("wrong checksum", "but the card says"),
    ("invalid card", "invalid card at 'classes'"),
    ("card not json", "not valid JSON"),
    ("deep json", "nested too deeply"),
    ("missing model", "model.keras is missing"),
    ("extra file", "unexpected file"),
    ("traversal", "path traversal"),
    ("not a zip", "not a readable zip"),
    ("shadows built-in", "already installed"),
    ("shape mismatch", "input shape"),
    ("background mismatch", "does not fit the card"),
])
def test_bad_bundles_are_refused(user_dir: Path, case: str, message: str) -> None:
    good_model = (SOURCE / "model.keras").read_bytes()
    if case == "wrong checksum":
        data = _bundle(_card(weights_sha256="0" * 64))
    elif case == "invalid card":
        data = _bundle(_none_sha(_card(classes=["only one"])))
    elif case == "card not json":
        data = _zip({"model.keras": good_model, "card.json": b"{not json"})
    elif case == "deep json":
        data = _zip({"model.keras": good_model, "card.json": b"[" * 100_000})
    elif case == "missing model":
        data = _zip({"card.json": json.dumps(_card()).encode()})
    elif case == "extra file":
        data = _bundle(run_me=b"#!/bin/sh\n")
    elif case == "traversal":
        data = _zip({"../../model.keras": good_model, "card.json": json.dumps(_card()).encode()})
    elif case == "not a zip":
        data = b"MZ\x90\x00 definitely not a zip"
    elif case == "shadows built-in":
        data = _bundle(_card(id="breast-cytology-wdbc"))
    elif case == "shape mismatch":
        other = registry.REPO_MODELS_DIR / "breast-metastasis-gse7390" / "model.keras"
        data = _bundle(_none_sha(_card()), model=other.read_bytes())
    else:
        card = _card()
        del card["explanation"]["background_sha256"]
        data = _bundle(card, **{"background.csv": b"a,b\n1,2\n"})
    with pytest.raises(BundleError, match=message):
        import_bundle_bytes(data, "bundle.zip")
    assert not user_dir.exists() or not any(user_dir.iterdir())


def test_default_user_folder_is_searched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PRECIMED_USER_MODELS_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert registry.models_dirs()[-1] == tmp_path / "xdg" / "precimed" / "models"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert registry.models_dirs()[-1] == Path.home() / ".local" / "share" / "precimed" / "models"


def test_probabilities_are_checked(user_dir: Path, tmp_path: Path) -> None:
    """A model whose output is not a probability (a linear head) is refused."""
    import keras

    inp = keras.Input((30,), name="x")
    model = keras.Model(inp, keras.layers.Dense(1, kernel_initializer="ones",
                                                bias_initializer=keras.initializers.Constant(50.0))(inp))
    path = tmp_path / "linear.keras"
    model.save(path)
    with pytest.raises(BundleError, match="does not output probabilities"):
        import_bundle_bytes(_bundle(_none_sha(_card()), model=path.read_bytes()), "linear.zip")
