"""Strict admin rights (precimed/access.py through pages/_auth.py and the Admin page): only a
verified e-mail on an exact list opens the Admin page; a malformed list is a configuration error
that keeps it closed and says so; an empty or absent list means no administrators unless
admins = ["*"]. The red-team cases of issue 15 are each a case here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from precimed import access

ROOT = Path(__file__).resolve().parents[2]
ADMIN = str(ROOT / "pages" / "6_admin.py")
AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback",
        "cookie_secret": "a-test-cookie-secret-of-some-length",
        "client_id": "precimed-test", "client_secret": "not-a-secret",
        "server_metadata_url": "https://idp.invalid/.well-known/openid-configuration"}
ANA = {"is_logged_in": True, "email": "ana@example.org", "email_verified": True, "sub": "a1"}
ABSENT = object()

# (case, signed-in user, [precimed] section (ABSENT: none), admin?)
CASES: list[tuple[str, dict[str, Any], Any, bool]] = [
    ("listed, verified", ANA, {"admins": ["ana@example.org"]}, True),
    ("listed, not verified", {**ANA, "email_verified": False}, {"admins": ["ana@example.org"]},
     False),
    ("listed, verified claim missing", {k: v for k, v in ANA.items() if k != "email_verified"},
     {"admins": ["ana@example.org"]}, False),
    ("verified given as the string 'true'", {**ANA, "email_verified": "true"},
     {"admins": ["ana@example.org"]}, False),
    ("no e-mail, name matches", {"is_logged_in": True, "name": "ana@example.org", "sub": "a1"},
     {"admins": ["ana@example.org"]}, False),
    ("no e-mail, preferred_username matches", {"is_logged_in": True, "sub": "a1",
                                               "preferred_username": "ana@example.org"},
     {"admins": ["ana@example.org"]}, False),
    ("not listed", {**ANA, "email": "bob@example.org"}, {"admins": ["ana@example.org"]}, False),
    ("listed address as a prefix", {**ANA, "email": "ana@example.org.evil"},
     {"admins": ["ana@example.org"]}, False),
    ("other case", {**ANA, "email": "ANA@example.org"}, {"admins": ["ana@example.org"]}, False),
    ("empty list", ANA, {"admins": []}, False),
    ("absent list", ANA, {}, False),
    ("absent section", ANA, ABSENT, False),
    ("star: every verified user", {**ANA, "email": "bob@example.org"}, {"admins": ["*"]}, True),
    ("star, not verified", {**ANA, "email_verified": False}, {"admins": ["*"]}, False),
    ("signed out", {"is_logged_in": False}, {"admins": ["*"]}, False),
]
# (case, [precimed] admins value): each a configuration error
BAD = [("a string (was a substring test: 'n' made admin)", "n"),
       ("a string address", "ana@example.org"),
       ("a number", 3), ("a table", {"ana": True}),
       ("a non-string entry", ["ana@example.org", 7]),
       ("a pattern", ["*@example.org"]), ("star with others", ["*", "ana@example.org"]),
       ("not an address", ["ana"]), ("an empty entry", [""]),
       ("spaces", ["ana @example.org"])]


@pytest.mark.parametrize(("case", "user", "section", "admin"), CASES, ids=[c[0] for c in CASES])
def test_admin_rule(case: str, user: dict[str, Any], section: Any, admin: bool) -> None:
    rule = access.parse_admins(None if section is ABSENT else section)
    assert access.is_admin(user, rule) is admin, case


@pytest.mark.parametrize(("case", "value"), BAD, ids=[b[0] for b in BAD])
def test_malformed_admins_is_a_configuration_error(case: str, value: Any) -> None:
    with pytest.raises(access.AdminConfigError, match=r"^\[precimed\] admins"):
        access.parse_admins({"admins": value})


def test_audit_names_the_verified_email_only() -> None:
    assert access.audit_name(ANA) == "ana@example.org"
    assert access.audit_name({**ANA, "email_verified": False}) == "sub:a1 unverified:ana@example.org"
    assert access.audit_name({"is_logged_in": True, "name": "Ana", "sub": "a1"}) == "sub:a1"
    assert access.audit_name({"is_logged_in": False, "email": "x@y.z"}) is None


def _admin_page(user: dict[str, Any], section: Any) -> AppTest:
    at = AppTest.from_file(ADMIN, default_timeout=60)
    at.secrets["auth"] = AUTH
    if section is not ABSENT:
        at.secrets["precimed"] = section
    at.user = user
    at.run()
    assert not at.exception
    return at


@pytest.mark.parametrize(("user", "section", "message"), [
    (ANA, {"admins": ["ana@example.org"]}, None),
    ({**ANA, "email_verified": False}, {"admins": ["ana@example.org"]}, "has not verified"),
    ({**ANA, "email": "bob@example.org"}, {"admins": ["ana@example.org"]}, "not in [precimed] admins"),
    (ANA, {"admins": []}, "no administrator is configured"),
    (ANA, ABSENT, "no administrator is configured"),
    (ANA, {"admins": "n"}, "Configuration error: [precimed] admins is a str"),
], ids=["admin", "unverified", "not listed", "empty", "absent", "string"])
def test_admin_page(user: dict[str, Any], section: Any, message: str | None,
                    capfd: pytest.CaptureFixture[str]) -> None:
    at = _admin_page(user, section)
    errors = [e.value for e in at.error]
    if message is None:
        assert not errors and at.get("file_uploader"), errors
        return
    assert len(errors) == 1 and message in errors[0], errors
    assert not at.get("file_uploader") and not at.dataframe and not at.subheader
    if message.startswith("Configuration error"):
        assert "PreciMed configuration error" in capfd.readouterr().err  # the operator sees it
