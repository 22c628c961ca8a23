"""DICOMweb client for a PACS: QIDO-RS search, WADO-RS retrieve, STOW-RS store (PS3.18 10.4-10.6).

Every request goes through ``dicomweb-client`` (no hand-written HTTP); this module adds what
PreciMed needs around it:

- authentication (HTTP basic or a bearer token) and a timeout on every call;
- errors a user can act on (:class:`PrecimedInputError`): server unreachable, credentials
  refused (401/403), no such study or series, a server fault;
- a retrieved series passes the same checks as an upload before and while it is downloaded:
  the number of instances and the uncompressed size of the series (``ZipLimits``), the
  decoded size of each instance, then the reader's own per-file checks
  (:func:`precimed.dicom.reader.load_members`);
- no PHI in logs: dicomweb-client and urllib3 log request URLs (which carry the patient ID
  and UIDs searched for) at DEBUG/INFO level, so their loggers are held at WARNING.

Example:
    >>> client = PacsClient(pacs_config({"url": "http://127.0.0.1:8042/dicom-web"}))  # doctest: +SKIP
    >>> [s.study_uid for s in client.search_studies(patient_id="PAT-1")]  # doctest: +SKIP
    ['1.2.826.0.1.3680043.8.498.1']
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from precimed.dicom.archive import DEFAULT_LIMITS, ZipLimits
from precimed.dicom.frames import LoadResult
from precimed.errors import PrecimedInputError
from precimed.pacs.config import PacsConfig
from precimed.pacs.query import (
    SeriesInfo,
    StudyInfo,
    decoded_bytes,
    series_from_json,
    study_filters,
    study_from_json,
    value,
)

T = TypeVar("T")
# Loggers that would write request URLs (patient IDs, UIDs) to the log at DEBUG or INFO level.
_QUIET = ("dicomweb_client", "urllib3.connectionpool")
STUDY_FIELDS = ("StudyDate", "StudyTime", "StudyDescription", "AccessionNumber", "PatientID",
                "ModalitiesInStudy", "NumberOfStudyRelatedSeries")
SERIES_FIELDS = ("Modality", "SeriesNumber", "SeriesDescription", "NumberOfSeriesRelatedInstances")
INSTANCE_FIELDS = ("Rows", "Columns", "NumberOfFrames", "BitsAllocated", "SamplesPerPixel")
MAX_STUDIES = 200


class _TooLarge(Exception):
    """Raised inside a download when it passes the byte budget (turned into a user message)."""


@dataclass
class _Budget:
    limit: int
    used: int = 0
    what: str = "the series"

    def take(self, n: int) -> None:
        self.used += n
        if self.used > self.limit:
            raise _TooLarge(f"{self.what} is larger than {self.limit:,} bytes")


@dataclass
class Retrieved:
    """A retrieved series: the decoded result plus the parsed data sets (by SOP Instance UID),
    which the result objects reference."""

    result: LoadResult
    datasets: dict[str, Any] = field(default_factory=dict, repr=False)


class PacsClient:
    """One PACS, one set of credentials. Thread-compatible (one ``requests.Session`` each)."""

    def __init__(self, config: PacsConfig, *, limits: ZipLimits = DEFAULT_LIMITS) -> None:
        import requests
        from dicomweb_client.api import DICOMwebClient

        for name in _QUIET:
            logging.getLogger(name).setLevel(logging.WARNING)
        self.config = config
        self.limits = limits
        session = requests.Session()
        headers: dict[str, str] = {}
        if config.token:
            headers["Authorization"] = f"Bearer {config.token}"
        elif config.user and config.password:
            session.auth = (config.user, config.password)
        self._budget: _Budget | None = None
        self._client = DICOMwebClient(url=config.url, session=session, headers=headers,
                                      timeout=(min(config.timeout_s, 10.0), config.timeout_s),
                                      callback=self._guard_response)
        self._client.set_http_retry_params(retry=False)  # a user waits: fail fast, say why

    # -- errors ---------------------------------------------------------------------------
    def _guard_response(self, response: Any, *args: Any, **kwargs: Any) -> Any:
        """requests response hook: refuse a download over the byte budget before reading it
        (Content-Length) and while reading it (chunked transfer: count as chunks arrive)."""
        budget = self._budget
        if budget is None:
            return response
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and budget.used + int(declared) > budget.limit:
            response.close()
            raise _TooLarge(f"{budget.what} would be {int(declared):,} bytes")
        original = response.iter_content

        def counted(chunk_size: int = 1, decode_unicode: bool = False) -> Iterator[Any]:
            for chunk in original(chunk_size=chunk_size, decode_unicode=decode_unicode):
                budget.take(len(chunk))
                yield chunk

        response.iter_content = counted
        return response

    @contextmanager
    def _calls(self, what: str, missing: str | None = None) -> Iterator[None]:
        """Turn transport and HTTP failures into one clear :class:`PrecimedInputError`."""
        import requests

        host = self.config.host
        try:
            yield
        except _TooLarge as exc:
            raise PrecimedInputError(f"{what}: {exc}; the retrieval was stopped",
                                     expected=f"at most {self.limits.max_total_bytes:,} bytes per "
                                     "series (the upload limit)") from None
        except requests.exceptions.Timeout:
            raise PrecimedInputError(f"the PACS at {host} did not answer within "
                                     f"{self.config.timeout_s:g} s ({what})",
                                     expected="a responsive DICOMweb server, or a longer timeout_s") from None
        except requests.exceptions.ConnectionError:
            raise PrecimedInputError(f"the PACS at {host} is unreachable (connection failed while "
                                     f"trying to {what})",
                                     expected="a running DICOMweb server at the configured URL") from None
        except requests.exceptions.HTTPError as exc:
            code = exc.response.status_code if exc.response is not None else 0
            if code in (401, 403):
                how = {"bearer": "the bearer token", "basic": "the user and password",
                       "none": "anonymous access"}[self.config.auth_kind]
                raise PrecimedInputError(f"the PACS at {host} refused {how} (HTTP {code})",
                                         expected="valid PACS credentials (user and password, or token)") from None
            if code == 404 and missing:
                raise PrecimedInputError(missing, expected="a UID that `precimed pacs search` lists") from None
            raise PrecimedInputError(f"the PACS at {host} answered HTTP {code} when asked to {what}",
                                     expected="a DICOMweb server that supports QIDO-RS, WADO-RS "
                                     "and STOW-RS") from None
        except (ValueError, KeyError) as exc:  # a reply dicomweb-client cannot parse
            raise PrecimedInputError(f"the PACS at {host} sent a reply that is not valid DICOMweb "
                                     f"when asked to {what} ({type(exc).__name__})",
                                     expected="a DICOMweb server (PS3.18)") from None

    def _run(self, what: str, call: Callable[[], T], missing: str | None = None) -> T:
        with self._calls(what, missing):
            return call()

    # -- QIDO-RS ----------------------------------------------------------------------------
    def search_studies(self, *, patient_id: str | None = None, accession: str | None = None,
                       study_date: str | None = None, modality: str | None = None,
                       with_series: bool = True, limit: int = MAX_STUDIES) -> list[StudyInfo]:
        """Studies matching all the filters given (PS3.18 10.6, Table 10.6.1-5 keys).

        Args:
            study_date: ``YYYYMMDD`` or a range ``YYYYMMDD-YYYYMMDD`` (either end may be open).
            modality: matched against Modalities in Study.
            with_series: also list each study's series (one more query per study).

        Raises:
            PrecimedInputError: a bad filter, or the server failed (see module docstring).
        """
        filters = study_filters(patient_id=patient_id, accession=accession, study_date=study_date,
                                modality=modality)
        found = self._run("search for studies", lambda: self._client.search_for_studies(
            search_filters=filters, fields=list(STUDY_FIELDS), limit=limit))
        studies = [study_from_json(s) for s in found]
        studies.sort(key=lambda s: (s.study_date, s.study_uid), reverse=True)
        if with_series:
            studies = [s.with_series(self.list_series(s.study_uid)) for s in studies]
        if modality:  # servers differ in matching ModalitiesInStudy; keep only true matches
            want = modality.strip().upper()
            studies = [s for s in studies if want in s.modalities or any(x.modality == want for x in s.series)]
        return studies

    def list_series(self, study_uid: str) -> list[SeriesInfo]:
        """The series of a study, by series number.

        Raises:
            PrecimedInputError: no such study (also when the server answers an empty list).
        """
        missing = f"the PACS has no study {study_uid}"
        found = self._run("list the series of a study", lambda: self._client.search_for_series(
            study_instance_uid=study_uid, fields=list(SERIES_FIELDS)), missing)
        if not found:
            raise PrecimedInputError(missing, expected="a Study Instance UID that `precimed pacs search` lists")
        series = [series_from_json(s) for s in found]
        return sorted(series, key=lambda s: (s.number if s.number is not None else 1 << 30, s.series_uid))

    # -- WADO-RS ----------------------------------------------------------------------------
    def retrieve_series(self, study_uid: str, series_uid: str) -> Retrieved:
        """Download one series into memory and decode it as an upload would be.

        Raises:
            PrecimedInputError: no such series, over the limits, or nothing in it is an image.
        """
        import pydicom

        from precimed.dicom.decode import MAX_DECODED_BYTES
        from precimed.dicom.reader import load_members

        missing = f"the PACS has no series {series_uid} in study {study_uid}"
        instances = self._run("list the instances of a series", lambda: self._client.search_for_instances(
            study_instance_uid=study_uid, series_instance_uid=series_uid,
            fields=list(INSTANCE_FIELDS)), missing)
        if not instances:
            raise PrecimedInputError(missing, expected="a Series Instance UID that `precimed pacs search` lists")
        if len(instances) > self.limits.max_entries:
            raise PrecimedInputError(f"series {series_uid} has {len(instances)} instances",
                                     expected=f"at most {self.limits.max_entries} images per series "
                                     "(the upload limit)")
        for inst in instances:
            need = decoded_bytes(inst)
            if need is not None and need > MAX_DECODED_BYTES:
                raise PrecimedInputError(
                    f"instance {value(inst, 'SOPInstanceUID')} would decode to {need:,} bytes",
                    expected=f"at most {MAX_DECODED_BYTES:,} bytes per image (the upload limit)")
        members: list[tuple[str, bytes]] = []
        datasets: dict[str, Any] = {}
        self._budget = _Budget(self.limits.max_total_bytes, what=f"series {series_uid}")
        try:
            with self._calls("retrieve a series", missing):
                for ds in self._client.iter_series(study_instance_uid=study_uid,
                                                   series_instance_uid=series_uid):
                    buf = io.BytesIO()
                    pydicom.dcmwrite(buf, ds, enforce_file_format=False)
                    name = str(ds.get("SOPInstanceUID", f"instance{len(members) + 1}"))
                    members.append((name, buf.getvalue()))
                    datasets[name] = ds
        finally:
            self._budget = None
        result = load_members(members, f"series {series_uid}")
        if not result.frames:
            shown = "; ".join(f"{e.source}: {e.reason}" for e in result.errors[:2])
            raise PrecimedInputError(f"series {series_uid}: no image could be loaded"
                                     + (f" — {shown}" if shown else " (it is empty)"),
                                     expected="a series of DICOM images")
        return Retrieved(result, datasets)

    # -- STOW-RS ----------------------------------------------------------------------------
    def store(self, datasets: Sequence[Any], study_uid: str | None = None) -> list[str]:
        """Store DICOM objects (PS3.18 10.5); returns their SOP Instance UIDs.

        Raises:
            PrecimedInputError: the server refused some or all of them (its reasons quoted).
        """
        reply = self._run("store results", lambda: self._client.store_instances(
            list(datasets), study_instance_uid=study_uid))
        failed = list(reply.get("FailedSOPSequence", []) if reply is not None else [])
        if failed:
            reasons = sorted({str(item.get("FailureReason", "?")) for item in failed})
            raise PrecimedInputError(f"the PACS refused {len(failed)} of {len(datasets)} object(s) "
                                     f"(failure reason {', '.join(reasons)})",
                                     expected="a PACS that accepts Parametric Map and SR storage")
        return [str(ds.SOPInstanceUID) for ds in datasets]
