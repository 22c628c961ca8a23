"""Model bundles: discovery, validation, checksum, lazy loading.

A bundle is a folder ``<models dir>/<id>/`` with ``model.keras``, ``card.json`` and, for tabular
models, ``background.csv`` (training rows used as the SHAP background and for PDP curves).
The card's ``weights_sha256`` must match ``model.keras``; a mismatch is refused before Keras
ever opens the file. Models load with ``safe_mode=True`` so that a Lambda layer cannot run code.

TensorFlow is imported only when a model is first loaded, so listing the catalogue is instant.

Example:
    >>> from precimed import registry
    >>> [b.id for b in registry.list_bundles()]  # doctest: +SKIP
    ['breast-metastasis-gse7390', 'breast-cytology-wdbc']
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from precimed import lazy
from precimed.cards import validate_card
from precimed.errors import BundleError

if TYPE_CHECKING:
    import keras
    import pandas as pd

MODEL_FILE = "model.keras"
CARD_FILE = "card.json"
REPO_MODELS_DIR = Path(__file__).resolve().parents[1] / "assets" / "models"


def models_dirs() -> list[Path]:
    """Folders searched for bundles: ``$PRECIMED_MODELS_DIR`` (``os.pathsep``-separated) if set,
    else the repository's ``assets/models``, plus the user models folder of imported bundles
    (``$PRECIMED_USER_MODELS_DIR``, default ``~/.local/share/precimed/models``)."""
    from precimed.userdata import user_models_dir

    env = os.environ.get("PRECIMED_MODELS_DIR")
    dirs = [Path(p) for p in env.split(os.pathsep) if p] if env else [REPO_MODELS_DIR]
    dirs.append(user_models_dir())
    return dirs


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


_LOAD_LOCK = threading.Lock()
_MODEL_CACHE: dict[tuple[str, str], Any] = {}


@dataclass
class Bundle:
    """A validated model bundle; the Keras model loads on first use and is cached per process."""

    path: Path
    card: dict[str, Any]
    _background: Any = field(default=None, repr=False)

    @property
    def id(self) -> str:
        return str(self.card["id"])

    @property
    def name(self) -> str:
        return str(self.card["name"])

    @property
    def version(self) -> str:
        return str(self.card["version"])

    @property
    def classes(self) -> list[str]:
        return list(self.card["classes"])

    @property
    def modality(self) -> str:
        return str(self.card["modality"])

    @property
    def weights_path(self) -> Path:
        return self.path / MODEL_FILE

    def verify_weights(self) -> None:
        """Refuse the bundle if ``model.keras`` does not match the card's SHA-256."""
        if not self.weights_path.is_file():
            raise BundleError(f"model '{self.id}': {MODEL_FILE} is missing", expected=str(self.path))
        actual = sha256_file(self.weights_path)
        if actual != self.card["weights_sha256"]:
            raise BundleError(
                f"model '{self.id}': weights checksum mismatch, {MODEL_FILE} has SHA-256 "
                f"{actual[:12]}… but the card says {self.card['weights_sha256'][:12]}…; refusing to load",
                expected="the weights the card was written for",
            )

    def model(self) -> keras.Model:
        """The Keras model, loaded once per process with ``safe_mode=True``."""
        key = (str(self.weights_path), self.card["weights_sha256"])
        cached = _MODEL_CACHE.get(key)
        if cached is not None:
            return cached
        with _LOAD_LOCK:
            if key not in _MODEL_CACHE:
                self.verify_weights()
                _MODEL_CACHE[key] = load_keras_safely(self.weights_path, label=self.id)
            return _MODEL_CACHE[key]

    def model_loaded(self) -> bool:
        """Whether :meth:`model` is already in this process's cache (no load, no checksum)."""
        return (str(self.weights_path), self.card["weights_sha256"]) in _MODEL_CACHE

    def background(self) -> pd.DataFrame:
        """Training rows kept in the bundle (raw feature values), checked against the card."""
        if self._background is None:
            import pandas as pd

            expl = self.card["explanation"]
            name = expl.get("background_file")
            if not name:
                raise BundleError(f"model '{self.id}' keeps no background data")
            path = self.path / name
            if not path.is_file():
                raise BundleError(f"model '{self.id}': {name} is missing", expected=str(path))
            want = expl.get("background_sha256")
            if want and sha256_file(path) != want:
                raise BundleError(f"model '{self.id}': {name} does not match its checksum")
            self._background = pd.read_csv(path)
        return self._background


def load_keras_safely(path: Path, *, label: str) -> keras.Model:
    """Load a ``.keras`` file with ``safe_mode=True``; explain a refusal in words.

    Keras refuses to deserialise a Lambda layer's bytecode in safe mode and fails on unknown
    custom objects; both become a :class:`BundleError`.
    """
    keras = lazy.keras()

    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises ValueError/TypeError/KeyError variously
        text = str(exc)
        if "safe_mode" in text or "Lambda" in text:
            why = "it contains a Lambda layer (arbitrary code), refused in safe mode"
        elif "Unknown" in text or "custom" in text.lower():
            why = "it uses an unknown custom layer or object"
        else:
            why = f"Keras could not read it ({type(exc).__name__}: {text.splitlines()[0][:200]})"
        raise BundleError(
            f"model '{label}': {why}",
            expected="a .keras file of built-in Keras layers",
        ) from None


# Validated cards by card path, keyed by the file's SHA-256: schema validation costs 20-40 ms
# a card, reading and hashing it well under 1 ms, and the home page lists every bundle and every
# refused folder on each visit.
_CARD_CACHE: dict[Path, tuple[tuple[str, bool], dict[str, Any] | BundleError]] = {}
_CARD_LOCK = threading.Lock()


def read_bundle(path: Path) -> Bundle:
    """Read and validate the card of the bundle in ``path`` (the weights are checked on load).

    The validated card is kept per process until ``card.json``'s bytes change; each
    call returns its own copy, so a caller that edits its card changes no other's."""
    return Bundle(path=path, card=copy.deepcopy(_validated_card(path)))


def _validated_card(path: Path) -> dict[str, Any]:
    """The cached validated card (shared: not to be edited), or its :class:`BundleError` again."""
    card_path = path / CARD_FILE
    try:
        data = card_path.read_bytes()
    except OSError:
        raise BundleError(f"{path}: no {CARD_FILE}", expected="a bundle folder with card.json") from None
    from precimed.userdata import user_models_dir

    # Imported: user-supplied whatever its card now says (an edited card cannot shed the mark,
    # nor, through the schema, the not-for-clinical-use statement).
    imported = path.resolve().parent == user_models_dir().resolve()
    key = (hashlib.sha256(data).hexdigest(), imported)
    with _CARD_LOCK:
        hit = _CARD_CACHE.get(card_path)
    if hit is None or hit[0] != key:
        try:
            result: dict[str, Any] | BundleError = _read_card(path, card_path, data, imported)
        except BundleError as exc:
            result = exc
        hit = (key, result)
        with _CARD_LOCK:
            _CARD_CACHE[card_path] = hit
    if isinstance(hit[1], BundleError):
        raise BundleError(hit[1].what, expected=hit[1].expected)
    return hit[1]


def _read_card(path: Path, card_path: Path, data: bytes, imported: bool) -> dict[str, Any]:
    try:
        card = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:  # deep nesting
        raise BundleError(f"{card_path}: not valid JSON ({str(exc)[:160]})", expected="a JSON card") from None
    if isinstance(card, dict) and imported:
        card["user_supplied"] = True
    validate_card(card, source=str(card_path))
    if card["id"] != path.name:
        raise BundleError(
            f"{card_path}: card id '{card['id']}' differs from the folder name '{path.name}'",
            expected="the folder named after the card id",
        )
    return card


def list_bundles(*, strict: bool = False) -> list[Bundle]:
    """All valid bundles, sorted by id. Invalid ones are skipped (``strict=True`` raises)."""
    found: dict[str, Bundle] = {}
    for root in models_dirs():
        if not root.is_dir():
            continue
        for sub in sorted(p for p in root.iterdir() if (p / CARD_FILE).is_file()):
            try:
                bundle = read_bundle(sub)
            except BundleError:
                if strict:
                    raise
                continue
            found.setdefault(bundle.id, bundle)
    return [found[k] for k in sorted(found)]


def bundle_errors() -> dict[str, str]:
    """Folders that look like bundles but fail validation, with the reason (for the catalogue)."""
    bad: dict[str, str] = {}
    for root in models_dirs():
        if not root.is_dir():
            continue
        for sub in sorted(p for p in root.iterdir() if (p / CARD_FILE).is_file()):
            try:
                _validated_card(sub)
            except BundleError as exc:
                bad[sub.name] = str(exc)
    return bad


def get_bundle(model_id: str) -> Bundle:
    """The bundle with this id, or a :class:`BundleError` listing the known ids."""
    bundles = list_bundles()
    for b in bundles:
        if b.id == model_id:
            return b
    known = ", ".join(b.id for b in bundles) or "none installed"
    raise BundleError(f"unknown model '{model_id}'", expected=f"one of: {known}")


def clear_cache() -> None:
    """Forget loaded models (tests)."""
    with _LOAD_LOCK:
        _MODEL_CACHE.clear()
