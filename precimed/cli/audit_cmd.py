"""``precimed audit verify|head|show``: check the audit log's keyed MAC chain, print its head
MAC (to record elsewhere), or print its last lines.

``verify`` exits 0 when the chain holds; when it is broken it prints the result (JSON with
``--json``) and one ``error:`` line naming the first bad line, and exits 2. ``verify --head H``
also checks that the line whose MAC is ``H`` (printed earlier by ``head``) is still there, which
catches lines cut off the end. A missing or wrong key is reported as such.
"""

from __future__ import annotations

import argparse
from typing import Any

from precimed import audit
from precimed.errors import PrecimedInputError


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "audit", help="check or show the audit log (PRECIMED_AUDIT_LOG)")
    actions = p.add_subparsers(dest="audit_action", required=True, parser_class=type(p))
    v = actions.add_parser("verify", help="check the hash chain; report the first bad line")
    v.add_argument("--log", default=None, help="log file (default: $PRECIMED_AUDIT_LOG)")
    v.add_argument("--head", default=None, metavar="MAC",
                   help="a head MAC printed earlier by `precimed audit head`: fail if the log no "
                        "longer holds it (lines cut off the end)")
    v.add_argument("--json", action="store_true", help="print one JSON object")
    v.set_defaults(handler=run_verify, text=None)
    h = actions.add_parser("head", help="verify the log and print its head MAC (record it "
                                        "elsewhere; check later with verify --head)")
    h.add_argument("--log", default=None, help="log file (default: $PRECIMED_AUDIT_LOG)")
    h.add_argument("--json", action="store_true", help="print one JSON object")
    h.set_defaults(handler=run_head, text=None)
    s = actions.add_parser("show", help="print the last lines of the log")
    s.add_argument("--log", default=None, help="log file (default: $PRECIMED_AUDIT_LOG)")
    s.add_argument("--last", type=int, default=20, help="number of lines (default 20)")
    s.add_argument("--json", action="store_true", help="print a JSON list")
    s.set_defaults(handler=run_show, text=_show_text)


def _verify_text(r: dict[str, Any]) -> str:
    if r["ok"]:
        anchored = (f"; the recorded head is line {r['anchored_line']}"
                    if r.get("anchored_line") else "")
        return (f"{r['log']}: {r['lines']} line(s), MAC chain intact under key {r['key_id']}"
                f"{anchored}; head {r['head']}")
    return (f"{r['log']}: chain broken at line {r['first_bad_line']} of {r['lines']}: "
            f"{r['reason']}; last good MAC {r['head']}")


def run_verify(args: argparse.Namespace) -> None:
    from precimed.cli.main import emit

    result = audit.verify(args.log, head=args.head).to_json()
    emit(result, args.json, _verify_text(result))
    _fail_if_broken(result)


def run_head(args: argparse.Namespace) -> None:
    from precimed.cli.main import emit

    result = audit.head(args.log).to_json()
    if result["ok"]:
        emit({"log": result["log"], "head": result["head"], "seq": result["head_seq"],
              "key_id": result["key_id"]}, args.json, result["head"])
    _fail_if_broken(result)


def _fail_if_broken(result: dict[str, Any]) -> None:
    if not result["ok"]:
        raise PrecimedInputError(
            f"audit log {result['log']}: line {result['first_bad_line']}: {result['reason']}",
            expected="an unmodified, append-only log")


def run_show(args: argparse.Namespace) -> list[dict[str, Any]]:
    if args.last < 1:
        raise PrecimedInputError(f"--last {args.last}", expected="a positive number of lines")
    path = args.log or audit.log_path()
    if path is None:
        raise PrecimedInputError("auditing is off and no --log was given",
                                 expected=f"--log FILE or {audit.ENV} set to a file path")
    return audit.read_entries(path, last=args.last)


def _show_text(rows: list[dict[str, Any]]) -> str:
    out = [f"{r.get('seq')}\t{r.get('time')}\t{r.get('who')}\t{r.get('action')}\t"
           f"{r.get('model', {}).get('id')} {r.get('model', {}).get('version')}\t"
           f"{r.get('input', {}).get('fingerprint', '')[:19]}…" for r in rows]
    return "\n".join(out) or "(empty)"
