"""``precimed pacs search`` and ``precimed pacs predict [--send]``: a PACS over DICOMweb.

The server and credentials come from the flags, else ``PRECIMED_PACS_URL``,
``PRECIMED_PACS_USER``, ``PRECIMED_PACS_PASSWORD``, ``PRECIMED_PACS_TOKEN`` (the command line
does not read ``.streamlit/secrets.toml``; the app does). Bad credentials, an unreachable
server and an unknown study are user errors: one ``error:`` line, exit 2.
"""

from __future__ import annotations

import argparse
from typing import Any


def _connection(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", default=None, help="DICOMweb root, e.g. http://host:8042/dicom-web "
                   "(default: $PRECIMED_PACS_URL)")
    p.add_argument("--user", default=None, help="HTTP basic user (default: $PRECIMED_PACS_USER)")
    p.add_argument("--password", default=None, help="HTTP basic password (default: $PRECIMED_PACS_PASSWORD)")
    p.add_argument("--token", default=None, help="bearer token instead of a user (default: $PRECIMED_PACS_TOKEN)")
    p.add_argument("--timeout", type=float, default=None, help="seconds per request (default 20)")
    p.add_argument("--json", action="store_true", help="print JSON")


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("pacs", help="search a PACS, predict on its images, "
                                                "send results back (DICOMweb)")
    inner = p.add_subparsers(dest="pacs_command", required=True, parser_class=type(p))
    s = inner.add_parser("search", help="studies matching the filters, with their series")
    _connection(s)
    s.add_argument("--patient-id", default=None, help="exact Patient ID")
    s.add_argument("--accession", default=None, help="exact Accession Number")
    s.add_argument("--study-date", default=None, help="YYYYMMDD or YYYYMMDD-YYYYMMDD")
    s.add_argument("--modality", default=None, help="a modality in the study, e.g. CT")
    s.set_defaults(handler=run_search, text=_search_text)
    q = inner.add_parser("predict", help="predict every image of a study (or one series)")
    _connection(q)
    q.add_argument("--study", required=True, help="Study Instance UID")
    q.add_argument("--series", default=None, help="Series Instance UID (default: every image series)")
    q.add_argument("--model", required=True, help="image model id (see `precimed models`)")
    q.add_argument("--send", action="store_true", help="store the SR and the heatmap (Parametric "
                   "Map) back into the study")
    q.add_argument("--overlay", action="store_true", help="with --send: also a Secondary Capture "
                   "of the overlay")
    q.add_argument("--allow-out-of-scope", action="store_true",
                   help="score images outside the card's scope too (reasons under warnings)")
    q.set_defaults(handler=run_predict, text=_predict_text)


def _client(args: argparse.Namespace) -> Any:
    from precimed.pacs import PacsClient, pacs_config

    return PacsClient(pacs_config(None, url=args.url, user=args.user, password=args.password,
                                  token=args.token, timeout_s=args.timeout))


def run_search(args: argparse.Namespace) -> list[dict[str, Any]]:
    from precimed.pacs.service import search

    return search(_client(args), patient_id=args.patient_id, accession=args.accession,
                  study_date=args.study_date, modality=args.modality)


def run_predict(args: argparse.Namespace) -> list[dict[str, Any]]:
    from precimed.pacs.service import predict_study
    from precimed.registry import get_bundle

    client = _client(args)  # configuration errors before the model loads
    bundle = get_bundle(args.model)
    return predict_study(bundle, client, args.study, args.series, send=args.send,
                         overlay=args.overlay, allow_out_of_scope=args.allow_out_of_scope)


def _search_text(studies: list[dict[str, Any]]) -> str:
    if not studies:
        return "no study matches"
    lines = []
    for s in studies:
        lines.append(f"{s['study_uid']}  {s['study_date'] or '-'}  {'/'.join(s['modalities'])}")
        lines += [f"  {x['series_uid']}  {x['modality']}  {x['instances']} instance(s)" for x in s["series"]]
    return "\n".join(lines)


def _predict_text(rows: list[dict[str, Any]]) -> str:
    out = []
    for r in rows:
        if "error" in r:
            out.append(f"{r['source']}: error: {r['error']}")
            continue
        probs = ", ".join(f"{k} {v:.3f}" for k, v in r["probabilities"].items())
        sent = f"; sent {len(r['sent'])} object(s)" if "sent" in r else ""
        out.append(f"{r['source']}: {r['prediction']} ({probs}){sent}")
    return "\n".join(out)
