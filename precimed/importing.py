"""Bring your own model: check a bundle ``.zip`` and install it into the user models folder.

A bundle zip holds ``model.keras`` and ``card.json`` (and the background file its card names,
``background.csv`` for tabular models), at the top level or inside one folder. Import, in order:

1. safe extraction in memory (:func:`precimed.dicom.archive.read_zip`: no path traversal, no
   links, entry/size/ratio limits), and only the expected files;
2. the card is parsed and validated against ``precimed/schemas/card.schema.json``;
3. the SHA-256 of ``model.keras`` is computed; a card that states one must match, a card that
   does not gets it recorded; the same for the background file;
4. the ``.keras`` file (itself a zip) is checked: its entries against limits, and its
   ``config.json`` for Lambda layers and custom objects, so that the refusal names the layer;
5. the model is loaded with ``safe_mode=True`` (:func:`precimed.registry.load_keras_safely`),
   its input and output shapes are compared with the card, and it is run once on background
   rows to check it returns probabilities;
6. the bundle is installed atomically as ``<user models>/<id>/`` with ``"user_supplied": true``
   in its card (pages and the catalogue mark such models).

Example:
    >>> result = import_bundle_path("my-model.zip")  # doctest: +SKIP
    >>> result.id, result.user_supplied  # doctest: +SKIP
    ('my-model', True)
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from precimed.cards import validate_card
from precimed.errors import BundleError, DicomInputError
from precimed.registry import CARD_FILE, MODEL_FILE, Bundle, list_bundles, load_keras_safely
from precimed.userdata import user_models_dir

MAX_BUNDLE_BYTES = 512 << 20
MAX_CARD_BYTES = 1 << 20
EXPECTED = "a .zip with model.keras and card.json (and the background file the card names)"
_BACKGROUND_SUFFIXES = (".csv", ".npy")


def _zip_limits() -> Any:
    from precimed.dicom.archive import ZipLimits

    return ZipLimits(max_entries=16, max_total_bytes=MAX_BUNDLE_BYTES * 2,
                     max_entry_bytes=MAX_BUNDLE_BYTES, max_ratio=200.0)


def _keras_limits() -> Any:
    from precimed.dicom.archive import ZipLimits

    # A .keras file is config.json + metadata.json + model.weights.h5 (+ assets).
    return ZipLimits(max_entries=64, max_total_bytes=MAX_BUNDLE_BYTES * 2,
                     max_entry_bytes=MAX_BUNDLE_BYTES, max_ratio=200.0)


@dataclass(frozen=True)
class ImportResult:
    """What was installed (``precimed import-model --json`` prints this)."""

    id: str
    name: str
    version: str
    modality: str
    task: str
    path: str
    weights_sha256: str
    background: str | None
    replaced: bool
    user_supplied: bool = True
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _unzip(data: bytes, name: str) -> dict[str, bytes]:
    """The bundle's files by base name, after the archive safety checks."""
    from precimed.dicom.archive import read_zip

    if len(data) > MAX_BUNDLE_BYTES:
        raise BundleError(f"{name}: {len(data):,} bytes",
                          expected=f"a bundle of at most {MAX_BUNDLE_BYTES >> 20} MiB")
    try:
        members = read_zip(data, name, _zip_limits())
    except DicomInputError as exc:  # the checks are generic; only the wording is DICOM's
        raise BundleError(exc.what, expected=EXPECTED) from None
    tops = {PurePosixPath(m.name).parts[0] for m in members if len(PurePosixPath(m.name).parts) > 1}
    files: dict[str, bytes] = {}
    for m in members:
        parts = PurePosixPath(m.name).parts
        if len(parts) > 2 or (len(parts) == 2 and len(tops) > 1):
            raise BundleError(f"{name}: unexpected entry '{m.name}'",
                              expected="the bundle files at the top level or in one folder")
        if parts[-1] in files:
            raise BundleError(f"{name}: '{parts[-1]}' appears more than once",
                              expected="each bundle file once")
        files[parts[-1]] = m.data
    for needed in (MODEL_FILE, CARD_FILE):
        if needed not in files:
            raise BundleError(f"{name}: {needed} is missing", expected=EXPECTED)
    return files


def _read_card(raw: bytes, name: str) -> dict[str, Any]:
    if len(raw) > MAX_CARD_BYTES:
        raise BundleError(f"{name}: card.json is {len(raw):,} bytes",
                          expected=f"at most {MAX_CARD_BYTES:,} bytes")
    try:
        card = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        why = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:160]
        raise BundleError(f"{name}: card.json is not valid JSON ({why})",
                          expected="a UTF-8 JSON card") from None
    if not isinstance(card, dict):
        raise BundleError(f"{name}: card.json holds a {type(card).__name__}",
                          expected="a JSON object")
    return card


def _walk(obj: Any) -> Any:
    stack = [obj]
    while stack:
        cur = stack.pop()
        if isinstance(cur, dict):
            yield cur
            stack.extend(cur.values())
        elif isinstance(cur, list):
            stack.extend(cur)


def scan_keras_file(data: bytes, label: str) -> None:
    """Refuse a ``.keras`` file whose archive is hostile or whose config names a Lambda layer
    or an object that is not Keras' own (checked before Keras deserialises anything)."""
    from precimed.dicom.archive import plan_zip

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            plan_zip(zf, MODEL_FILE, _keras_limits())
            if "config.json" not in zf.namelist():
                raise BundleError(f"model '{label}': {MODEL_FILE} has no config.json",
                                  expected="a file written by keras Model.save('model.keras')")
            info = zf.getinfo("config.json")
            if info.file_size > 16 * MAX_CARD_BYTES:
                raise BundleError(f"model '{label}': config.json is {info.file_size:,} bytes",
                                  expected="a model configuration of at most 16 MiB")
            config = json.loads(zf.read(info))
    except DicomInputError as exc:
        raise BundleError(f"model '{label}': {exc.what}", expected="a plain .keras file") from None
    except (zipfile.BadZipFile, OSError, ValueError, RecursionError, EOFError,
            NotImplementedError, RuntimeError) as exc:
        raise BundleError(f"model '{label}': {MODEL_FILE} is not a readable Keras archive "
                          f"({type(exc).__name__})", expected="a .keras file") from None
    for item in _walk(config):
        cls = item.get("class_name")
        if not isinstance(cls, str):
            continue
        module, registered = item.get("module"), item.get("registered_name")
        if cls in ("Lambda", "__lambda__") or item.get("function_type") == "lambda":
            raise BundleError(
                f"model '{label}': it contains a Lambda layer (arbitrary Python code); refused",
                expected="a .keras file of built-in Keras layers")
        foreign = isinstance(module, str) and not (module == "keras" or module.startswith("keras."))
        if foreign or (isinstance(registered, str) and ">" in registered):
            custom = isinstance(registered, str) and ">" in registered
            what = registered if custom else f"{module}.{cls}"
            raise BundleError(
                f"model '{label}': it uses the custom object '{what}', which is not part of "
                "Keras; refused", expected="a .keras file of built-in Keras layers")


def _check_shapes(model: Any, card: dict[str, Any]) -> None:
    """The model's input/output shapes must be those the card implies."""
    ident = card["id"]
    in_shape = tuple(model.input_shape[1:]) if not isinstance(model.input_shape, list) else None
    out_shape = tuple(model.output_shape[1:]) if not isinstance(model.output_shape, list) else None
    if in_shape is None or out_shape is None:
        raise BundleError(f"model '{ident}': several inputs or outputs",
                          expected="one input and one output")
    if card["modality"] == "tabular":
        from precimed.tabular.validate import encoded_columns

        want_in: tuple[Any, ...] = (len(encoded_columns(card)),)
    else:
        want_in = tuple(card["inputs"][0]["shape"])
    want_out = (1,) if card["task"] == "binary" else (len(card["classes"]),)
    if in_shape != want_in:
        raise BundleError(f"model '{ident}': input shape {in_shape} does not match the card",
                          expected=f"{want_in} from the card's inputs")
    if out_shape != want_out:
        raise BundleError(f"model '{ident}': output shape {out_shape} does not match the card",
                          expected=f"{want_out} for a {card['task']} model with "
                                   f"{len(card['classes'])} classes")


def _check_background(files: dict[str, bytes], card: dict[str, Any],
                      notes: list[str]) -> str | None:
    """Pick, checksum and validate the background file; record its name and SHA-256."""
    expl = card["explanation"]
    bg_name = expl.get("background_file")
    if bg_name is None and "background.csv" in files and card["modality"] == "tabular":
        bg_name = "background.csv"
    if bg_name is None:
        notes.append("no background file: SHAP explanations are unavailable for this model")
        return None
    if "/" in bg_name or "\\" in bg_name or not bg_name.endswith(_BACKGROUND_SUFFIXES):
        raise BundleError(f"card.json: explanation.background_file '{bg_name}'",
                          expected="a plain .csv or .npy file name in the bundle")
    if bg_name not in files:
        raise BundleError(f"the card names {bg_name} but the bundle lacks it", expected=EXPECTED)
    digest = _sha256(files[bg_name])
    if expl.get("background_sha256") not in (None, digest):
        raise BundleError(f"{bg_name}: SHA-256 {digest[:12]}… differs from the card's "
                          f"{expl['background_sha256'][:12]}…",
                          expected="the file the card was written for")
    expl["background_file"], expl["background_sha256"] = bg_name, digest
    if card["modality"] == "tabular":
        from precimed.errors import PrecimedInputError
        from precimed.tabular.io import read_table
        from precimed.tabular.validate import validate_table

        try:
            validate_table(read_table(files[bg_name], bg_name), card)
        except PrecimedInputError as exc:
            raise BundleError(f"{bg_name} does not fit the card: {exc}",
                              expected="training rows with the card's input columns") from None
    return str(bg_name)


def _smoke_test(model: Any, card: dict[str, Any], bundle_dir: Path, bg_name: str | None) -> None:
    """Run the model once and check it returns probabilities."""
    from precimed.predict import raw_output

    bundle = Bundle(path=bundle_dir, card=card)
    if bg_name and card["modality"] == "tabular":
        from precimed.explain.tabular import background_matrix

        x = background_matrix(bundle, rows=8)
    elif bg_name:
        x = np.load(bundle_dir / bg_name, allow_pickle=False)[:2].astype(np.float32)
        if tuple(x.shape[1:]) != tuple(card["inputs"][0]["shape"]):
            raise BundleError(f"{bg_name}: background shape {x.shape}",
                              expected=f"(n, {', '.join(map(str, card['inputs'][0]['shape']))})")
    else:
        x = np.zeros((1, *model.input_shape[1:]), dtype=np.float32)
    try:
        out = raw_output(model, np.asarray(x, dtype=np.float32))
    except Exception as exc:  # noqa: BLE001 - any failure means the model cannot be used
        raise BundleError(f"model '{card['id']}' fails on its own background rows "
                          f"({type(exc).__name__})", expected="a model that runs") from None
    ok = bool(np.all(np.isfinite(out)) and np.all(out >= -1e-6) and np.all(out <= 1 + 1e-6))
    if ok and card["task"] == "multiclass":
        ok = bool(np.allclose(out.sum(axis=1), 1.0, atol=1e-3))
    if not ok:
        raise BundleError(f"model '{card['id']}' does not output probabilities",
                          expected="a sigmoid output (binary) or a softmax over the classes")


def import_bundle_bytes(data: bytes, name: str, *, dest: Path | None = None,
                        replace: bool = False) -> ImportResult:
    """Check and install a bundle zip (see the module docstring).

    Args:
        data: the zip's bytes; name: its file name (for messages).
        dest: the user models folder (default :func:`precimed.userdata.user_models_dir`).
        replace: allow replacing an imported model with the same id.

    Raises:
        BundleError: what is wrong with the bundle and what is expected.
    """
    files = _unzip(data, name)
    card = _read_card(files[CARD_FILE], name)
    digest = _sha256(files[MODEL_FILE])
    stated = card.get("weights_sha256")
    if stated is not None and stated != digest:
        raise BundleError(f"{name}: model.keras has SHA-256 {digest[:12]}… but the card says "
                          f"{str(stated)[:12]}…; refused",
                          expected="the weights the card was written for")
    card["weights_sha256"] = digest
    card["user_supplied"] = True
    validate_card(card, source=f"{name}: card.json")
    ident = str(card["id"])
    allowed = {MODEL_FILE, CARD_FILE, "background.csv",
               str(card["explanation"].get("background_file"))}
    extra = sorted(set(files) - allowed)
    if extra:
        raise BundleError(f"{name}: unexpected file(s) {', '.join(extra)}", expected=EXPECTED)
    notes: list[str] = []
    bg_name = _check_background(files, card, notes)
    dest = dest or user_models_dir()
    dest_resolved = dest.resolve()
    for other in list_bundles():
        if other.id == ident and other.path.parent.resolve() != dest_resolved:
            raise BundleError(f"a model with id '{ident}' is already installed at {other.path}",
                              expected="a new id in card.json")
    target = dest / ident
    if target.exists() and not replace:
        raise BundleError(f"an imported model with id '{ident}' exists",
                          expected="another id, or --replace to overwrite it")
    scan_keras_file(files[MODEL_FILE], ident)
    dest.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=dest))
    try:
        bundle_dir = staging / ident
        bundle_dir.mkdir()
        (bundle_dir / MODEL_FILE).write_bytes(files[MODEL_FILE])
        if bg_name:
            (bundle_dir / bg_name).write_bytes(files[bg_name])
        model = load_keras_safely(bundle_dir / MODEL_FILE, label=ident)
        _check_shapes(model, card)
        _smoke_test(model, card, bundle_dir, bg_name)
        (bundle_dir / CARD_FILE).write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n",
                                            "utf-8")
        replaced = target.exists()
        if replaced:
            old = staging / ".old"
            os.replace(target, old)
        os.replace(bundle_dir, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    from precimed import audit

    audit.record("import", Bundle(path=target, card=card), data,
                 {"installed": str(target), "replaced": replaced})
    return ImportResult(id=ident, name=str(card["name"]), version=str(card["version"]),
                        modality=str(card["modality"]), task=str(card["task"]), path=str(target),
                        weights_sha256=digest, background=bg_name, replaced=replaced, notes=notes)


def import_bundle_path(path: str | Path, **kwargs: Any) -> ImportResult:
    """:func:`import_bundle_bytes` for a file on disk."""
    p = Path(path)
    if not p.is_file():
        raise BundleError(f"{path}: no such file", expected=EXPECTED)
    if p.stat().st_size > MAX_BUNDLE_BYTES:
        raise BundleError(f"{p.name}: {p.stat().st_size:,} bytes",
                          expected=f"a bundle of at most {MAX_BUNDLE_BYTES >> 20} MiB")
    return import_bundle_bytes(p.read_bytes(), p.name, **kwargs)
