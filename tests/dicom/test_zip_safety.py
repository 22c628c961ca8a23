"""Zip uploads: hostile archives are refused with a message; one bad file does not stop the rest."""

from __future__ import annotations

import io
import stat
import struct
import zipfile

import pytest
from helpers_dicom import ct_slice, data_file, zip_bytes

from precimed.dicom import ZipLimits, load_bytes
from precimed.dicom.archive import read_zip
from precimed.errors import DicomInputError


@pytest.fixture(scope="module")
def slices() -> dict[str, bytes]:
    return {f"series/IM{k:04d}.dcm": ct_slice(z=2.5 * k, instance=k + 1) for k in range(3)}


def test_a_zipped_series_loads_in_slice_order(slices: dict[str, bytes]) -> None:
    shuffled = dict(reversed(list(slices.items())))
    result = load_bytes(zip_bytes(shuffled), "study.zip")
    assert [f.source for f in result.frames] == sorted(slices)
    assert result.errors == []
    assert set(result.files) == set(slices)


@pytest.mark.parametrize("evil", ["../../etc/passwd.dcm", "/abs/IM1.dcm", "a/../../IM1.dcm",
                                  "C:/Windows/IM1.dcm", "..\\..\\IM1.dcm"])
def test_path_traversal_refuses_the_archive(slices: dict[str, bytes], evil: str) -> None:
    members = {**slices, evil: next(iter(slices.values()))}
    with pytest.raises(DicomInputError, match="outside the archive") as info:
        load_bytes(zip_bytes(members), "evil.zip")
    assert str(info.value).startswith("evil.zip:")


def test_a_symlink_entry_refuses_the_archive(slices: dict[str, bytes]) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in slices.items():
            zf.writestr(name, data)
        link = zipfile.ZipInfo("series/link.dcm")
        link.create_system = 3
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
    with pytest.raises(DicomInputError, match="symbolic link"):
        load_bytes(buf.getvalue(), "links.zip")


def test_too_many_entries() -> None:
    members = {f"f{i}.dcm": b"x" for i in range(30)}
    with pytest.raises(DicomInputError, match="30 entries") as info:
        load_bytes(zip_bytes(members), "many.zip", limits=ZipLimits(max_entries=20))
    assert "at most 20 files" in str(info.value)


def test_a_zip_bomb_is_refused_from_its_headers() -> None:
    bomb = zip_bytes({"bomb.dcm": b"\0" * (8 << 20)})  # 8 MiB of zeros → a few KiB
    assert len(bomb) < 64 << 10
    with pytest.raises(DicomInputError, match="compression ratio"):
        load_bytes(bomb, "bomb.zip")


def test_total_uncompressed_size_is_limited(slices: dict[str, bytes]) -> None:
    size = sum(len(v) for v in slices.values())
    with pytest.raises(DicomInputError, match="would unpack to more than"):
        load_bytes(zip_bytes(slices), "big.zip", limits=ZipLimits(max_total_bytes=size - 1))


def _lying_zip(payload: bytes, declared: int) -> bytes:
    """A stored zip whose headers claim ``declared`` bytes but whose data is ``payload``."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("liar.dcm", payload)
    raw = bytearray(buf.getvalue())
    # Patch the uncompressed size in the local header (offset 22) and the central directory.
    struct.pack_into("<I", raw, 22, declared)
    cd = raw.rfind(b"PK\x01\x02")
    struct.pack_into("<I", raw, cd + 24, declared)
    return bytes(raw)


def test_sizes_are_enforced_while_reading_not_only_from_headers() -> None:
    payload = b"\0" * (4 << 20)
    data = _lying_zip(payload, declared=1000)  # headers say 1000 bytes: passes the plan
    errors: list = []
    members = read_zip(data, "liar.zip", errors=errors)
    assert members == []  # never handed out more than declared
    assert len(errors) == 1 and errors[0].name == "liar.dcm"
    assert "damaged" in errors[0].reason or "declares" in errors[0].reason


def test_one_bad_file_among_good_ones_is_reported(slices: dict[str, bytes]) -> None:
    members = {**slices, "series/report.dcm": data_file("test-SR.dcm").read_bytes(),
               "series/broken.dcm": next(iter(slices.values()))[:600],
               "notes.txt": b"not dicom"}
    result = load_bytes(zip_bytes(members), "mixed.zip")
    assert len(result.frames) == 3
    reasons = {e.source: e.reason for e in result.errors}
    assert set(reasons) == {"series/report.dcm", "series/broken.dcm", "notes.txt"}
    assert "structured report" in reasons["series/report.dcm"]
    assert "not a DICOM file" in reasons["notes.txt"]


def test_a_zip_where_nothing_loads_is_one_clear_error() -> None:
    members = {"a.txt": b"hello", "b.dcm": data_file("rtplan.dcm").read_bytes()}
    with pytest.raises(DicomInputError) as info:
        load_bytes(zip_bytes(members), "nothing.zip")
    text = str(info.value)
    assert text.startswith("nothing.zip: no image could be loaded")
    assert "radiotherapy plan" in text


def test_a_damaged_entry_is_reported_and_the_rest_load(slices: dict[str, bytes]) -> None:
    data = bytearray(zip_bytes(slices))
    # Corrupt the compressed data of the first entry (CRC check fails when it is read).
    start = 30 + len("series/IM0000.dcm")
    data[start + 100:start + 140] = b"\xff" * 40
    result = load_bytes(bytes(data), "damaged.zip")
    assert len(result.frames) == 2
    assert [e.source for e in result.errors] == ["series/IM0000.dcm"]


def test_junk_entries_are_skipped_and_folders_ignored(slices: dict[str, bytes]) -> None:
    members = {**slices, "__MACOSX/series/._IM0000.dcm": b"junk", ".DS_Store": b"junk"}
    result = load_bytes(zip_bytes(members), "mac.zip")
    assert len(result.frames) == 3 and result.errors == []


def test_dicomdir_in_a_zip_indexes_the_series(tmp_path) -> None:
    import pydicom
    from pydicom.fileset import FileSet

    fs = FileSet()
    for k in range(3):
        fs.add(pydicom.dcmread(io.BytesIO(ct_slice(z=-5.0 * k, instance=k + 1))))
    fs.write(tmp_path / "media")
    members = {str(p.relative_to(tmp_path)).replace("\\", "/"): p.read_bytes()
               for p in (tmp_path / "media").rglob("*") if p.is_file()}
    members["media/stray.txt"] = b"not part of the file-set"  # not referenced: ignored
    result = load_bytes(zip_bytes(members), "cd.zip")
    assert len(result.frames) == 3 and result.errors == []
    assert [f.position[2] for f in result.frames] == [-10.0, -5.0, 0.0]
    # A DICOMDIR whose files are missing reports each one.
    only_index = {k: v for k, v in members.items() if k.endswith("DICOMDIR")}
    only_index["media/extra.dcm"] = ct_slice(z=1.0, instance=9)
    with pytest.raises(DicomInputError, match="referenced by media/DICOMDIR but not in"):
        load_bytes(zip_bytes(only_index), "index-only.zip")


def test_a_dicomdir_alone_says_what_to_do() -> None:
    data = data_file("DICOMDIR").read_bytes()
    with pytest.raises(DicomInputError, match="zipped together with the files it references"):
        load_bytes(data, "DICOMDIR")


def test_not_a_zip_not_dicom() -> None:
    with pytest.raises(DicomInputError, match="not a DICOM file"):
        load_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 200, "photo.png")
