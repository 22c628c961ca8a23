"""Who may administer PreciMed: the ``[precimed] admins`` rule, as plain functions.

The rule is strict because the Admin page installs models and shows the audit log:

- a user is matched on the e-mail address the identity provider *verified*
  (``email_verified`` is ``true`` in the ID token); never on ``name`` or
  ``preferred_username``, which users can often edit, nor on an unverified address;
- ``admins`` must be a list of exact e-mail addresses (compared as written, whole strings);
  anything else (a string, a number, a pattern, an empty entry) is a configuration error that
  closes the Admin page for everyone and is shown to the operator;
- an empty or absent list means *no* administrators; ``admins = ["*"]`` is the explicit way to
  make every verified user one.

Example:
    >>> rule = parse_admins({"admins": ["ana@example.org"]})
    >>> is_admin({"email": "ana@example.org", "email_verified": True}, rule)
    True
    >>> is_admin({"email": "ana@example.org"}, rule)  # not verified
    False
    >>> parse_admins({"admins": "ana@example.org"})  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    precimed.access.AdminConfigError: [precimed] admins is a str ...
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from precimed.errors import PrecimedInputError

EXPECTED = ('[precimed] admins = ["ana@example.org", ...] (exact e-mail addresses), or '
            '["*"] for every user with a verified e-mail; empty or absent: no administrators')
# One "@", no spaces, no wildcard characters: a plain address, not a pattern.
_ADDRESS = re.compile(r"^[^@\s*?\[\]]+@[^@\s*?\[\]]+$")


class AdminConfigError(PrecimedInputError):
    """``[precimed] admins`` is not a list of exact e-mail addresses (nor ``["*"]``)."""


@dataclass(frozen=True)
class AdminRule:
    """The parsed list: exact addresses, or everyone verified (``["*"]``)."""

    addresses: frozenset[str]
    everyone: bool = False


def parse_admins(section: Any) -> AdminRule:
    """Read the ``[precimed]`` section (a mapping, or ``None`` when absent).

    Raises:
        AdminConfigError: naming what is wrong with the value.
    """
    if section is None:
        return AdminRule(frozenset())
    if not isinstance(section, Mapping):
        raise AdminConfigError(f"[precimed] is a {type(section).__name__}, not a section",
                               expected=EXPECTED)
    value = section.get("admins")
    if value is None:
        return AdminRule(frozenset())
    if not isinstance(value, (list, tuple)):
        raise AdminConfigError(f"[precimed] admins is a {type(value).__name__} ({value!r:.60}), "
                               "not a list", expected=EXPECTED)
    if list(value) == ["*"]:
        return AdminRule(frozenset(), everyone=True)
    for item in value:
        if not isinstance(item, str):
            raise AdminConfigError(f"[precimed] admins holds a {type(item).__name__} "
                                   f"({item!r:.60})", expected=EXPECTED)
        if not _ADDRESS.match(item):
            why = "'*' must stand alone" if "*" in item else "not an exact e-mail address"
            raise AdminConfigError(f"[precimed] admins holds {item!r:.60}: {why}",
                                   expected=EXPECTED)
    return AdminRule(frozenset(value))


def verified_email(user: Mapping[str, Any]) -> str | None:
    """The user's e-mail if the provider verified it (``email_verified`` is JSON ``true``)."""
    email = user.get("email")
    if user.get("email_verified") is True and isinstance(email, str) and email:
        return email
    return None


def is_admin(user: Mapping[str, Any], rule: AdminRule) -> bool:
    """True only for a signed-in user whose verified e-mail is on the list (or ``["*"]``)."""
    if not user.get("is_logged_in", True):
        return False
    email = verified_email(user)
    if email is None:
        return False
    return rule.everyone or email in rule.addresses


def audit_name(user: Mapping[str, Any]) -> str | None:
    """Who the audit log names: the verified e-mail, else the provider's subject (``sub``),
    with an unverified e-mail marked as such; ``None`` when nobody is signed in."""
    if not user.get("is_logged_in"):
        return None
    email = verified_email(user)
    if email:
        return email
    sub, raw = user.get("sub"), user.get("email")
    parts = [f"sub:{sub}"] if isinstance(sub, str) and sub else []
    if isinstance(raw, str) and raw:
        parts.append(f"unverified:{raw}")
    return " ".join(parts) or "signed-in user"
