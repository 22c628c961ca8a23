"""PACS over DICOMweb: search (QIDO-RS), retrieve (WADO-RS), send results back (STOW-RS).

Public entry points:

- :func:`pacs_config`: the server and credentials from ``.streamlit/secrets.toml`` ``[pacs]``
  (passed in as a mapping: the engine does not import Streamlit) or ``PRECIMED_PACS_*``;
- :class:`PacsClient`: ``search_studies``, ``list_series``, ``retrieve_series`` (through the
  upload's safety limits) and ``store``;
- :func:`predict_study` (``precimed pacs predict``) and :func:`search`.

Result objects (SR, Parametric Map, Secondary Capture) are built in
:mod:`precimed.dicom.results`. Every failure a user can fix is a
:class:`precimed.errors.PrecimedInputError` with a message that says what to do.
"""

from __future__ import annotations

from precimed.pacs.client import PacsClient, Retrieved
from precimed.pacs.config import PacsConfig, pacs_config
from precimed.pacs.query import SeriesInfo, StudyInfo, study_filters
from precimed.pacs.service import build_results, image_series, predict_study, search

__all__ = [
    "PacsClient", "PacsConfig", "Retrieved", "SeriesInfo", "StudyInfo", "build_results",
    "image_series", "pacs_config", "predict_study", "search", "study_filters",
]
