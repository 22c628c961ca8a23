"""Property-based fuzzing (hypothesis) of every loader that reads user input.

Each target draws an input, hands it to a loader and checks the one property that matters:
the call ends in a correct result (the target's invariants hold) or in a clean
``PrecimedInputError``, never in another exception. Targets run in a process whose address
space is capped (``--cap-mb``), so an allocation the loaders failed to bound shows up as a
``MemoryError`` failure instead of taking the machine down.

Run by ``tests/fuzz/test_fuzz.py`` (a small count for CI) and ``benchmarks/bench_fuzz.py``
(≥ 10,000 cases per target)::

    python tests/fuzz/fuzz_targets.py --target dicom_file --examples 500 --json
    python tests/fuzz/fuzz_targets.py --target table_bytes --engine atheris --examples 10000
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import sys
import time
import traceback
import warnings
import zipfile
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore", message="Duplicate name", category=UserWarning)

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from precimed.errors import PrecimedInputError  # noqa: E402

DICOM_SEEDS = ["CT_small.dcm", "MR_small.dcm", "MR_small_RLE.dcm", "SC_rgb.dcm", "SC_rgb_rle.dcm",
               "emri_small.dcm", "JPEG2000.dcm", "SC_rgb_jpeg_dcmtk.dcm", "rtplan.dcm",
               "MR_small_bigendian.dcm", "MR_small_implicit.dcm", "SC_ybr_full_uncompressed.dcm",
               "image_dfl.dcm", "emri_small_jpeg_2k_lossless.dcm"]
CARDS = ["breast-cytology-wdbc", "breast-metastasis-gse7390", "dili-hepatic-injury-qsar"]
INTERESTING_INTS = [0, 1, 2, 3, 7, 8, 12, 15, 16, 17, 31, 32, 33, 64, 255, 256, 4096, 32767,
                    32768, 65535, 65536, 2**31 - 1, 2**31, 2**32 - 1]


class Unclean(AssertionError):
    """The loader ended in something other than a result or a clean refusal."""


# ------------------------------------------------------------------------------- seeds
@cache
def dicom_seeds() -> tuple[bytes, ...]:
    from pydicom.data import get_testdata_file

    out = []
    for name in DICOM_SEEDS:
        path = get_testdata_file(name, download=False)
        if path:
            out.append(Path(path).read_bytes())
    return tuple(out)


@cache
def cards() -> tuple[dict[str, Any], ...]:
    found = []
    for ident in CARDS:
        path = ROOT / "assets" / "models" / ident / "card.json"
        if path.is_file():
            found.append(json.loads(path.read_text("utf-8")))
    return tuple(found)


@cache
def sample_texts() -> tuple[str, ...]:
    out = []
    for ident in CARDS:
        path = ROOT / "assets" / "samples" / f"{ident}.csv"
        if path.is_file():
            out.append(path.read_text("utf-8")[:6000])
    return tuple(out)


# --------------------------------------------------------------------------- mutations
def mutate(data: bytes, ops: list[tuple[str, int, bytes]]) -> bytes:
    """Apply byte-level edits: flip, overwrite, insert, delete, truncate at a relative position."""
    buf = bytearray(data)
    for op, where, blob in ops:
        if not buf:
            break
        pos = where % len(buf)
        if op == "flip":
            buf[pos] ^= 1 << (blob[0] % 8 if blob else 0)
        elif op == "overwrite":
            buf[pos:pos + len(blob)] = blob
        elif op == "insert":
            buf[pos:pos] = blob
        elif op == "delete":
            del buf[pos:pos + max(len(blob), 1) * 16]
        elif op == "truncate":
            del buf[pos:]
    return bytes(buf)


def _ints_le() -> st.SearchStrategy[bytes]:
    return st.one_of(st.sampled_from(INTERESTING_INTS).map(lambda v: (v % 2**32).to_bytes(4, "little")),
                     st.sampled_from(INTERESTING_INTS).map(lambda v: (v % 2**16).to_bytes(2, "little")))


def byte_ops() -> st.SearchStrategy[list[tuple[str, int, bytes]]]:
    blob = st.one_of(st.binary(min_size=1, max_size=8), _ints_le(),
                     st.sampled_from([b"OB", b"OW", b"SQ", b"UN", b"US", b"DS", b"\xfe\xff\x00\xe0",
                                      b"\xff\xff\xff\xff", b"\xe0\x7f\x10\x00"]))
    op = st.tuples(st.sampled_from(["flip", "overwrite", "insert", "delete", "truncate"]),
                   st.integers(0, 2**31), blob)
    return st.lists(op, min_size=1, max_size=6)


# ------------------------------------------------------------------------------ targets
def check_table(frame: Any) -> None:
    from precimed.tabular.io import MAX_COLUMNS

    if not (frame.shape[0] >= 1 and 1 <= frame.shape[1] <= MAX_COLUMNS):
        raise Unclean(f"read_table returned a {frame.shape} table")
    if not all(isinstance(c, str) for c in frame.columns):
        raise Unclean("read_table returned non-text column names")


cell = st.one_of(
    st.sampled_from(["", "NA", "n/a", "?", "nan", "inf", "-inf", "1e308", "1e999", "-0", "0x1F",
                     "1,5", "2.5", " 3 ", "positive", "NEGATIVE", "none", "=1+1", '"', "'", ";",
                     "\t", "\r\n", "\x00", "é", "\ufeff", "1_000", "١٢٣"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10**20, 10**20).map(str),
    st.text(max_size=12),
)


@st.composite
def delimited_text(draw: Any) -> tuple[bytes, str]:
    """A CSV/TSV-like text: maybe a real sample, rows of hostile cells, odd quoting and encodings."""
    sep = draw(st.sampled_from([",", ";", "\t", "|", " "]))
    if sample_texts() and draw(st.booleans()):
        text = draw(st.sampled_from(sample_texts()))
        text = text.replace(",", sep) if draw(st.booleans()) else text
    else:
        ncol = draw(st.integers(1, 12))
        rows = draw(st.lists(st.lists(cell, min_size=ncol, max_size=ncol), min_size=0, max_size=8))
        quote = draw(st.booleans())
        fmt = (lambda c: '"' + c.replace('"', '""') + '"') if quote else (lambda c: c)
        header = [draw(st.one_of(st.sampled_from(["mean radius", " Age ", "er", "", "a", "a"]),
                                 st.text(max_size=6))) for _ in range(ncol)]
        text = "\n".join(sep.join(fmt(c) for c in row) for row in [header, *rows])
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "utf-16", "cp1252"]))
    data = text.encode(encoding, errors="replace")
    if draw(st.booleans()):
        data = mutate(data, draw(byte_ops()))
    return data, draw(st.sampled_from([".csv", ".tsv", ".txt", ".CSV"]))


def target_table_bytes() -> tuple[st.SearchStrategy[Any], Callable[[Any], None]]:
    from precimed.tabular.io import read_table

    def parquet_bytes(data: bytes) -> bytes:
        import pandas as pd

        buf = io.BytesIO()
        pd.DataFrame({"a": [1.0, 2.0], "b": ["x", None]}).to_parquet(buf)
        return mutate(buf.getvalue(), [("overwrite", int.from_bytes(data[:4] or b"\0", "little"),
                                        data[4:12] or b"\xff")])

    strategy = st.one_of(
        delimited_text(),
        st.tuples(st.binary(max_size=600), st.sampled_from([".csv", ".parquet", ".tsv", ".xlsx"])),
        st.binary(min_size=4, max_size=16).map(lambda b: (parquet_bytes(b), ".parquet")),
    )

    def run(item: tuple[bytes, str]) -> None:
        data, suffix = item
        try:
            frame = read_table(data, "upload" + suffix)
        except PrecimedInputError:
            return
        check_table(frame)

    return strategy, run


@st.composite
def table_for_card(draw: Any) -> tuple[Any, dict[str, Any]]:
    import random

    import pandas as pd

    card = draw(st.sampled_from(cards()))
    names = [i["name"] for i in card["inputs"]]
    # Drawing every cell through hypothesis is slow for 80 columns: draw a pool of hostile cells
    # and a seed, and fill the table from the pool (the pool still shrinks).
    pool = draw(st.lists(cell, min_size=1, max_size=10))
    rng = random.Random(draw(st.integers(0, 2**32)))
    keep = [n for n in names if rng.random() > 0.01]  # now and then a column goes missing
    rename = {n: rng.choice([n, n.upper(), f" {n} ", n.title()]) for n in keep}
    nrows = draw(st.integers(0, 6))
    clean = {i["name"]: str(i.get("median", i.get("levels", ["x"])[0])) for i in card["inputs"]}
    dirty = draw(st.floats(0, 1))
    data = {rename[n]: [rng.choice(pool) if rng.random() < dirty else clean[n]
                        for _ in range(nrows)] for n in keep}
    for k in range(draw(st.integers(0, 2))):
        data[f"extra{k}"] = [rng.choice(pool) for _ in range(nrows)]
    frame = pd.DataFrame(data)
    if draw(st.booleans()) and nrows:  # numeric dtypes, as Parquet would give
        for col in list(frame.columns)[: draw(st.integers(0, len(frame.columns)))]:
            frame[col] = pd.to_numeric(frame[col], errors="coerce")
    return frame, card


def target_table_validate() -> tuple[st.SearchStrategy[Any], Callable[[Any], None]]:
    import numpy as np

    from precimed.cards import feature_specs
    from precimed.tabular.validate import encode, validate_table

    def run(item: tuple[Any, dict[str, Any]]) -> None:
        frame, card = item
        try:
            table = validate_table(frame, card)
        except PrecimedInputError:
            return
        specs = feature_specs(card)
        if list(table.frame.columns) != [s.name for s in specs] or len(table.frame) != len(frame):
            raise Unclean("validated frame does not have the card's columns and the input's rows")
        if not table.valid_rows:
            raise Unclean("validate_table returned no valid row instead of refusing")
        x = encode(table.frame.iloc[table.valid_rows], card)
        if not np.all(np.isfinite(x)):
            raise Unclean("a valid row encodes to a non-finite model input")
        for issue in table.issues:
            if not 0 <= issue.row < len(frame):
                raise Unclean(f"issue on row {issue.row} of {len(frame)}")

    return table_for_card(), run


json_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
              st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=6), inner, max_size=4)),
    max_leaves=12)


@st.composite
def mutated_card(draw: Any) -> Any:
    import copy

    if draw(st.integers(0, 9)) == 0:
        return draw(json_value)
    card = copy.deepcopy(draw(st.sampled_from(cards())))
    for _ in range(draw(st.integers(0, 4))):
        target = card
        inputs = card.get("inputs")
        if draw(st.booleans()) and isinstance(inputs, list) and inputs:
            target = inputs[draw(st.integers(0, len(inputs) - 1))]
        if not isinstance(target, dict) or not target:
            break
        key = draw(st.sampled_from(sorted(target)))
        action = draw(st.sampled_from(["drop", "set", "swap"]))
        if action == "drop":
            del target[key]
        elif action == "set":
            target[key] = draw(json_value)
        else:
            target[key] = draw(st.sampled_from([float("nan"), float("inf"), -1, 2, "", [], {},
                                                ["a", "a"], "benign", True, 10**30]))
    return card


def target_card() -> tuple[st.SearchStrategy[Any], Callable[[Any], None]]:
    import math

    from precimed.cards import feature_specs, validate_card

    def run(card: Any) -> None:
        try:
            validate_card(card)
        except PrecimedInputError:
            return
        if card["threshold"] is not None and not 0 < card["threshold"] < 1:
            raise Unclean(f"accepted threshold {card['threshold']!r}")
        if card["modality"] == "tabular":
            for spec in feature_specs(card):
                if not spec.is_categorical and not (math.isfinite(spec.min) and math.isfinite(spec.max)
                                                    and spec.min <= spec.max):
                    raise Unclean(f"accepted range [{spec.min}, {spec.max}] for {spec.name}")

    return mutated_card(), run


def check_load_result(result: Any) -> None:
    import numpy as np

    if not result.frames:
        raise Unclean("load_bytes returned no frame instead of refusing")
    for fr in result.frames:
        pix = fr.pixels
        if pix.ndim not in (2, 3) or (pix.ndim == 3 and pix.shape[2] != 3) or pix.size == 0:
            raise Unclean(f"frame {fr.label} has pixel shape {pix.shape}")
        if pix.dtype.kind == "f" and not np.all(np.isfinite(pix)):
            raise Unclean(f"frame {fr.label} has non-finite pixels")
    for name in result.files:
        if name.startswith("/") or ".." in Path(name).parts:
            raise Unclean(f"a file escaped the archive: {name!r}")


def target_dicom_file() -> tuple[st.SearchStrategy[Any], Callable[[Any], None]]:
    from precimed.dicom import load_bytes

    @st.composite
    def header_edit(draw: Any) -> bytes:
        """Structured edits of the Image Pixel Module (PS3.3 C.7.6.3) through pydicom."""
        import pydicom
        from pydicom import config

        config.settings.writing_validation_mode = config.IGNORE  # write the invalid values too
        base = draw(st.sampled_from(dicom_seeds()))
        ds = pydicom.dcmread(io.BytesIO(base), force=True)
        for kw in draw(st.lists(st.sampled_from(
                ["Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit", "SamplesPerPixel",
                 "PixelRepresentation", "NumberOfFrames", "PhotometricInterpretation",
                 "PlanarConfiguration", "RescaleSlope", "WindowWidth", "PixelData"]),
                min_size=1, max_size=3)):
            if kw == "PixelData":
                ds.PixelData = draw(st.binary(max_size=64)) if draw(st.booleans()) else \
                    bytes(ds.get("PixelData", b""))[: draw(st.integers(0, 4000))]
            elif kw in ("PhotometricInterpretation",):
                setattr(ds, kw, draw(st.sampled_from(["MONOCHROME1", "RGB", "YBR_FULL_422",
                                                      "PALETTE COLOR", "HSV", "", "MONOCHROME2"])))
            elif kw in ("NumberOfFrames", "RescaleSlope", "WindowWidth"):
                try:  # pydicom refuses some strings for IS/DS even when not validating
                    setattr(ds, kw, draw(st.sampled_from(["0", "-1", "1e9", "abc", "2", "NaN", "1"])))
                except ValueError:
                    continue
            else:
                setattr(ds, kw, draw(st.sampled_from(INTERESTING_INTS)) % 65536)
        buf = io.BytesIO()
        try:
            ds.save_as(buf, enforce_file_format=False)
        except Exception:  # noqa: BLE001 - pydicom refuses to write some edits; use the seed
            return base
        return buf.getvalue()

    strategy = st.one_of(
        st.tuples(st.sampled_from(dicom_seeds()), byte_ops()).map(lambda t: mutate(*t)),
        header_edit(),
        st.binary(max_size=300).map(lambda b: b"\0" * 128 + b"DICM" + b),
    )

    def run(data: bytes) -> None:
        try:
            result = load_bytes(data, "upload.dcm")
        except PrecimedInputError:
            return
        check_load_result(result)

    return strategy, run


ENTRY_NAMES = ["IM1.dcm", "series/IM2.dcm", "../evil.dcm", "/abs.dcm", "a/../../b.dcm",
               "C:/x.dcm", "..\\x.dcm", "DICOMDIR", "__MACOSX/._IM1.dcm", ".DS_Store", "dir/",
               "./IM3.dcm", "x" * 300, "é/ü.dcm"]


@st.composite
def hostile_zip(draw: Any) -> bytes:
    entries = draw(st.lists(st.tuples(
        st.one_of(st.sampled_from(ENTRY_NAMES), st.text(min_size=1, max_size=20)),
        st.one_of(st.sampled_from(dicom_seeds()), st.binary(max_size=200),
                  st.integers(0, 3 << 20).map(lambda n: b"\0" * n)),
        st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])), min_size=0, max_size=5))
    links = draw(st.lists(st.booleans(), min_size=len(entries), max_size=len(entries)))
    ops = draw(byte_ops()) if draw(st.booleans()) else []  # drawn up front: the build may fail
    buf = io.BytesIO()
    try:
        with zipfile.ZipFile(buf, "w") as zf:
            for (name, data, comp), link in zip(entries, links, strict=True):
                info = zipfile.ZipInfo(name, (2026, 1, 1, 0, 0, 0))
                info.compress_type = comp
                if link:
                    info.create_system, info.external_attr = 3, 0o120777 << 16  # symlink
                zf.writestr(info, data)
    except (ValueError, UnicodeEncodeError):
        return b"PK\x05\x06" + b"\0" * 18
    return mutate(buf.getvalue(), ops) if ops else buf.getvalue()


def target_dicom_zip() -> tuple[st.SearchStrategy[Any], Callable[[Any], None]]:
    from precimed.dicom import load_bytes

    def run(data: bytes) -> None:
        try:
            result = load_bytes(data, "upload.zip")
        except PrecimedInputError:
            return
        check_load_result(result)

    return hostile_zip(), run


def target_bundle_zip() -> tuple[st.SearchStrategy[Any], Callable[[Any], None]]:
    """The model-import zip reader and card parser (before any model is loaded)."""
    from precimed.importing import _read_card, _unzip

    def run(data: bytes) -> None:
        try:
            files = _unzip(data, "bundle.zip")
            _read_card(files["card.json"], "bundle.zip")
        except PrecimedInputError:
            return
        if not {"model.keras", "card.json"} <= set(files):
            raise Unclean("the bundle reader returned without model.keras and card.json")

    names = st.sampled_from(["model.keras", "card.json", "background.csv", "x/model.keras",
                             "x/card.json", "../card.json", "a/b/c.json"])
    bundle = st.lists(st.tuples(names, st.one_of(st.binary(max_size=64),
                                                 json_value.map(lambda v: json.dumps(v).encode()))),
                      max_size=4).map(lambda es: _plain_zip(es))
    return st.one_of(bundle, hostile_zip()), run


def _plain_zip(entries: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries:
            zf.writestr(zipfile.ZipInfo(name, (2026, 1, 1, 0, 0, 0)), data)
    return buf.getvalue()


TARGETS: dict[str, Callable[[], tuple[st.SearchStrategy[Any], Callable[[Any], None]]]] = {
    "table_bytes": target_table_bytes,
    "table_validate": target_table_validate,
    "card": target_card,
    "dicom_file": target_dicom_file,
    "dicom_zip": target_dicom_zip,
    "bundle_zip": target_bundle_zip,
}


# ------------------------------------------------------------------------------- runners
def cap_address_space(extra_mb: int) -> None:
    with open("/proc/self/statm") as fh:
        vm = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    cap = vm + (extra_mb << 20)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def _dump(name: str, item: Any) -> None:
    """Keep the failing input in ``$PRECIMED_FUZZ_DUMP/<target>.bin`` (bytes inputs only)."""
    folder = os.environ.get("PRECIMED_FUZZ_DUMP")
    if folder and isinstance(item, bytes):
        Path(folder).mkdir(parents=True, exist_ok=True)
        Path(folder, f"{name}.bin").write_bytes(item)


CHUNK = 1500  # examples per hypothesis engine: its example cache grows with the run


def run_hypothesis(name: str, examples: int, seed: int) -> dict[str, Any]:
    """``examples`` cases in runs of at most :data:`CHUNK` (each run a fresh hypothesis engine,
    whose memory is freed after it; one engine over 10,000 zips held 2 GiB)."""
    strategy, check = TARGETS[name]()
    count = {"n": 0}
    failures: list[str] = []

    def make(n: int) -> Callable[[], None]:
        @settings(max_examples=n, deadline=None, database=None, derandomize=False,
                  suppress_health_check=list(HealthCheck),
                  phases=[Phase.generate, Phase.target, Phase.shrink])
        @given(strategy)
        def prop(item: Any) -> None:
            count["n"] += 1
            try:
                check(item)
            except Unclean:
                _dump(name, item)
                raise
            except BaseException as exc:  # noqa: BLE001 - anything else is a finding (Rust panics)
                if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                    raise
                _dump(name, item)
                raise Unclean(f"{type(exc).__name__}: {str(exc)[:300]}") from exc

        return prop

    import gc
    import random

    random.seed(seed)
    start = time.perf_counter()
    left = examples
    while left > 0 and not failures:
        try:
            make(min(left, CHUNK))()
        except Exception as exc:  # noqa: BLE001 - hypothesis re-raises the shrunk failure(s)
            found = list(exc.exceptions) if isinstance(exc, BaseExceptionGroup) else [exc]
            for one in found:
                notes = " ".join(getattr(one, "__notes__", []))
                cause = one.__cause__ or one
                tb = traceback.extract_tb(cause.__traceback__) if cause.__traceback__ else []
                where = f"{tb[-1].filename}:{tb[-1].lineno}" if tb else "?"
                failures.append(f"{type(one).__name__}: {str(one)[:300]} | at {where} | "
                                f"{notes[:700]}")
        left -= CHUNK
        gc.collect()
    seconds = time.perf_counter() - start
    return {"target": name, "engine": "hypothesis", "cases": count["n"], "seconds": seconds,
            "cases_per_s": count["n"] / seconds if seconds else None, "failures": failures}


def run_atheris(name: str, runs: int) -> None:  # pragma: no cover - exercised by the benchmark
    """Coverage-guided: atheris mutates raw bytes; the bytes are mapped to the target's input."""
    import tempfile

    import atheris

    _, check = TARGETS[name]()

    def one(data: bytes) -> None:
        if name == "table_bytes":
            item: Any = (data[1:], [".csv", ".tsv", ".parquet"][data[0] % 3] if data else ".csv")
        elif name == "table_validate":
            import pandas as pd

            card = cards()[0]
            text = data.decode("latin-1")
            cols = [i["name"] for i in card["inputs"]]
            item = (pd.DataFrame({c: [text[k::len(cols)][:12] or ""] for k, c in enumerate(cols)}),
                    card)
        elif name == "card":
            try:
                item = json.loads(data.decode("utf-8", "replace"))
            except (ValueError, RecursionError):
                return
        else:
            item = data
        try:
            check(item)
        except Unclean as exc:
            raise RuntimeError(str(exc)) from None

    seeds = tempfile.mkdtemp(prefix="precimed-fuzz-")
    starts: list[bytes] = []
    if name == "dicom_file":
        starts = list(dicom_seeds()[:6])
    elif name in ("dicom_zip", "bundle_zip"):
        starts = [_plain_zip([(f"s/IM{k}.dcm", d) for k, d in enumerate(dicom_seeds()[:2])]),
                  _plain_zip([("model.keras", b"PK\x05\x06" + b"\0" * 18),
                              ("card.json", json.dumps(cards()[0]).encode())])]
    elif name == "card":
        starts = [json.dumps(c).encode() for c in cards()]
    elif name == "table_bytes":
        starts = [b"\0" + t.encode() for t in sample_texts()]
    for k, seed in enumerate(starts):
        Path(seeds, f"seed{k}").write_bytes(seed)
    atheris.instrument_all()  # coverage feedback from every loaded module (the loaders included)
    # libFuzzer prints "Done N runs in S second(s)" at the end; a crash writes crash-* there.
    atheris.Setup([sys.argv[0], f"-runs={runs}", f"-artifact_prefix={seeds}/",
                   "-rss_limit_mb=4096", "-max_len=65536", seeds], one)
    atheris.Fuzz()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="fuzz one PreciMed loader")
    p.add_argument("--target", choices=sorted(TARGETS), required=True)
    p.add_argument("--examples", type=int,
                   default=int(os.environ.get("PRECIMED_FUZZ_EXAMPLES", "150")))
    p.add_argument("--engine", choices=["hypothesis", "atheris"], default="hypothesis")
    p.add_argument("--cap-mb", type=int, default=2048, help="extra address space allowed")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    TARGETS[args.target]()  # import the loaders and build the seeds before capping
    dicom_seeds(), cards(), sample_texts()
    if args.cap_mb:
        cap_address_space(args.cap_mb)
    if args.engine == "atheris":
        run_atheris(args.target, args.examples)
        return 0
    result = run_hypothesis(args.target, args.examples, args.seed)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['target']}: {result['cases']} cases in {result['seconds']:.1f} s, "
              f"{len(result['failures'])} failure(s)")
        for f in result["failures"]:
            print(f)
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
