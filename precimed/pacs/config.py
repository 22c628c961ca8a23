"""Where the PACS is and how to log in: ``.streamlit/secrets.toml`` ``[pacs]`` or the environment.

The engine never reads Streamlit's secrets itself (it does not import Streamlit): the page
passes ``st.secrets.get("pacs")`` in as a plain mapping, the command line passes its flags.
Precedence, highest first: explicit arguments (flags, the page's form), the ``[pacs]`` table,
then ``PRECIMED_PACS_URL``, ``PRECIMED_PACS_USER``, ``PRECIMED_PACS_PASSWORD`` and
``PRECIMED_PACS_TOKEN``.

Example ``.streamlit/secrets.toml``::

    [pacs]
    url = "https://pacs.example.org/dicom-web"
    user = "precimed"
    password = "…"          # or: token = "…" (sent as ``Authorization: Bearer …``)
    timeout_s = 20

Example:
    >>> cfg = pacs_config({"url": "http://127.0.0.1:8042/dicom-web", "user": "u", "password": "p"}, env={})
    >>> cfg.url, cfg.auth_kind, "p" in repr(cfg)
    ('http://127.0.0.1:8042/dicom-web', 'basic', False)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from precimed.errors import PrecimedInputError

ENV = {"url": "PRECIMED_PACS_URL", "user": "PRECIMED_PACS_USER",
       "password": "PRECIMED_PACS_PASSWORD", "token": "PRECIMED_PACS_TOKEN"}
DEFAULT_TIMEOUT_S = 20.0
EXPECTED_URL = ("a DICOMweb root such as http://host:8042/dicom-web, from --url, the [pacs] url "
                "in .streamlit/secrets.toml or PRECIMED_PACS_URL")


@dataclass(frozen=True)
class PacsConfig:
    """A DICOMweb endpoint and its credentials (never shown in ``repr`` or messages).

    Attributes:
        url: the DICOMweb root (QIDO, WADO and STOW share it).
        user, password: HTTP basic authentication, when both are set.
        token: a bearer token (used instead of basic authentication when set).
        timeout_s: connect and read timeout of every request, in seconds.
    """

    url: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    timeout_s: float = DEFAULT_TIMEOUT_S

    @property
    def auth_kind(self) -> str:
        """``"bearer"``, ``"basic"`` or ``"none"``."""
        return "bearer" if self.token else "basic" if self.user else "none"

    @property
    def host(self) -> str:
        """``scheme://host:port`` of the server, for messages (no path, no credentials)."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


def _clean(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def pacs_config(secrets: Mapping[str, Any] | None = None, *, env: Mapping[str, str] | None = None,
                url: str | None = None, user: str | None = None, password: str | None = None,
                token: str | None = None, timeout_s: float | None = None) -> PacsConfig:
    """Merge explicit values, the ``[pacs]`` secrets table and the environment.

    Raises:
        PrecimedInputError: no URL anywhere, a URL that is not http(s), a user without a
            password (or the reverse), or both a token and a user.
    """
    env = os.environ if env is None else env
    secrets = secrets or {}

    def pick(key: str, explicit: str | None) -> str | None:
        return _clean(explicit) or _clean(secrets.get(key)) or _clean(env.get(ENV[key]))

    chosen_url = pick("url", url)
    if chosen_url is None:
        raise PrecimedInputError("no PACS is configured", expected=EXPECTED_URL)
    parts = urlsplit(chosen_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PrecimedInputError(f"PACS URL '{parts.scheme}://{parts.hostname or ''}…' is not an http(s) URL",
                                 expected=EXPECTED_URL)
    if parts.username or parts.password:
        raise PrecimedInputError("the PACS URL carries credentials",
                                 expected="the user and password given separately (--user/--password)")
    explicit_login = any(_clean(v) for v in (user, password, token))
    if explicit_login:  # credentials typed now replace the configured ones as a whole
        chosen_user, chosen_pw, chosen_token = _clean(user), _clean(password), _clean(token)
    else:
        chosen_user, chosen_pw, chosen_token = pick("user", None), pick("password", None), pick("token", None)
    if chosen_token and chosen_user:
        raise PrecimedInputError("both a bearer token and a user are given",
                                 expected="either --user/--password or --token")
    if bool(chosen_user) != bool(chosen_pw) and not chosen_token:
        raise PrecimedInputError("a PACS user needs a password (and a password a user)",
                                 expected="both --user and --password, or --token")
    raw_timeout = timeout_s if timeout_s is not None else secrets.get("timeout_s", DEFAULT_TIMEOUT_S)
    try:
        timeout = float(raw_timeout)
    except (TypeError, ValueError):
        raise PrecimedInputError(f"PACS timeout '{raw_timeout}' is not a number",
                                 expected="seconds, e.g. 20") from None
    if not 0 < timeout <= 600:
        raise PrecimedInputError(f"PACS timeout {timeout:g} s", expected="between 0 and 600 seconds")
    return PacsConfig(url=chosen_url.rstrip("/"), user=chosen_user, password=chosen_pw,
                      token=chosen_token, timeout_s=timeout)
