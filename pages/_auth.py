"""Optional OpenID Connect login (Streamlit's ``st.login``) and the gate every page goes through.

Login is on when ``.streamlit/secrets.toml`` has an ``[auth]`` section (see
``.streamlit/secrets.toml.example``). Then :func:`require_login`, called by ``app.py`` before
``st.navigation(...).run()``, shows anonymous users a sign-in screen and nothing else, whatever
page they asked for. Without ``[auth]`` the app is open, as before. A secrets file that exists
but cannot be parsed locks everyone out (fail closed) rather than opening the app.

The signed-in user's verified e-mail (else the provider's subject, with any unverified e-mail
marked) is what the audit log records as ``who``. ``[precimed] admins = ["ana@example.org"]`` in
the same file lists the administrators (exact, verified addresses; ``["*"]`` for every verified
user; empty or absent: none): the rule is :mod:`precimed.access`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import streamlit as st

from precimed import access, audit

REFUSAL = ("Sign-in required: this PreciMed installation is configured for OpenID Connect "
           "login, and anonymous users cannot see any page.")


def _secrets_file_exists() -> bool:
    from streamlit import config

    return any(Path(p).expanduser().exists() for p in config.get_option("secrets.files"))


def auth_state() -> str:
    """``"off"`` (no ``[auth]``), ``"on"``, or ``"broken"`` (a secrets file that cannot be read)."""
    try:
        return "on" if "auth" in st.secrets else "off"
    except FileNotFoundError:  # Streamlit's "no secrets" and "cannot parse" errors
        return "broken" if _secrets_file_exists() else "off"


def current_user() -> str | None:
    """Who the audit log names (see :func:`precimed.access.audit_name`); ``None`` when nobody
    is signed in."""
    return access.audit_name(st.user.to_dict())


def _providers() -> list[str | None]:
    """``[None]`` for one provider configured directly under ``[auth]``, else the names of the
    ``[auth.<name>]`` sections."""
    section: Any = st.secrets.get("auth", {})
    named = [k for k, v in section.items() if isinstance(v, Mapping)]
    return [None] if "client_id" in section or not named else named


def _sign_in_screen() -> None:
    st.title("PreciMed")
    st.error(REFUSAL, icon="🔒")
    if auth_state() == "broken":
        st.caption("The secrets file could not be read; fix .streamlit/secrets.toml.")
        return
    for provider in _providers():
        label = "Log in" if provider is None else f"Log in with {provider}"
        if st.button(label, key=f"login-{provider or 'default'}", type="primary"):
            try:
                st.login() if provider is None else st.login(provider)
            except Exception as exc:  # noqa: BLE001 - Authlib missing or a bad [auth] section
                st.error(f"Login is misconfigured ({type(exc).__name__}: {exc}). Install "
                         "Authlib (pip install 'precimed[auth]') and check [auth] in secrets.toml.")


def require_login(url_paths: Sequence[str] = ()) -> None:
    """The gate: returns when the app may be shown, else renders the sign-in screen and stops.

    Args:
        url_paths: the app's page paths (``genomics``, ``admin``, ...): each is served the
            sign-in screen too, so a deep link shows it, not "page not found" over it.

    Also tells the audit log who is acting in this script run.
    """
    state = auth_state()
    if state == "off":
        audit.set_actor(None)
        return
    who = current_user() if state == "on" else None
    audit.set_actor(who)
    if who is None:
        # A navigation with only the sign-in screen: every URL lands on it, and Streamlit's
        # legacy pages/ router is switched off for the process.
        screens = [st.Page(_sign_in_screen, title="Sign in", url_path="login", default=True)]
        screens += [st.Page(_sign_in_screen, title="Sign in", url_path=u)
                    for u in dict.fromkeys(url_paths) if u and u != "login"]
        st.navigation(screens, position="hidden").run()
        st.stop()
    with st.sidebar:
        st.caption(f"Signed in as **{who}**")
        if st.button("Log out", key="logout"):
            st.logout()


def admin_refusal() -> str | None:
    """``None`` when the current user may use the Admin page, else why not (shown on the page).

    Without login the app is open and so is the page (no one is authenticated to restrict).
    With login: the verified-e-mail rule of :mod:`precimed.access`; a malformed ``admins``
    closes the page for everyone and says what is wrong (also on the server's console).
    """
    if auth_state() == "off":
        return None
    user = st.user.to_dict()
    try:
        rule = access.parse_admins(st.secrets.get("precimed"))
    except access.AdminConfigError as exc:
        import sys

        print(f"PreciMed configuration error: {exc}", file=sys.stderr, flush=True)
        return (f"Configuration error: {exc}. The Admin page stays closed until the operator "
                "fixes .streamlit/secrets.toml.")
    if access.is_admin(user, rule):
        return None
    if not user.get("is_logged_in"):
        return "Administrators only: sign in first."
    if access.verified_email(user) is None:
        return ("Administrators only: your identity provider has not verified your e-mail "
                "address (email_verified), so it cannot be matched against [precimed] admins.")
    if not rule.addresses and not rule.everyone:
        return "Administrators only: no administrator is configured ([precimed] admins is empty)."
    return "Administrators only: your account is not in [precimed] admins in secrets.toml."


def is_admin() -> bool:
    return admin_refusal() is None


def refuse_anonymous() -> None:
    """Defence in depth for pages (called by ``pages/_ui.py: page_setup``): stop the page for an
    anonymous user when login is on, should a page ever run without ``app.py``'s gate (e.g. a
    first request racing the switch-off of Streamlit's legacy pages/ router)."""
    if auth_state() != "off" and current_user() is None:
        st.error(REFUSAL, icon="🔒")
        st.stop()
