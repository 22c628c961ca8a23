"""Optional OpenID Connect login (Streamlit's ``st.login``) and the gate every page goes through.

Login is on when ``.streamlit/secrets.toml`` has an ``[auth]`` section (see
``.streamlit/secrets.toml.example``). Then :func:`require_login`, called by ``app.py`` before
``st.navigation(...).run()``, shows anonymous users a sign-in screen and nothing else, whatever
page they asked for. Without ``[auth]`` the app is open, as before. A secrets file that exists
but cannot be parsed locks everyone out (fail closed) rather than opening the app.

The signed-in user (e-mail, else name, else subject) is what the audit log records as ``who``.
``[precimed] admins = ["ana@example.org"]`` in the same file restricts the admin page.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import streamlit as st

from precimed import audit

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
    """The signed-in user's e-mail (or name, or subject); ``None`` when nobody is signed in."""
    user = st.user
    if not user.get("is_logged_in"):
        return None
    for key in ("email", "name", "preferred_username", "sub"):
        value = user.get(key)
        if isinstance(value, str) and value:
            return value
    return "signed-in user"


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


def require_login() -> None:
    """The gate: returns when the app may be shown, else renders the sign-in screen and stops.

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
        st.navigation([st.Page(_sign_in_screen, title="Sign in", url_path="login", default=True)],
                      position="hidden").run()
        st.stop()
    with st.sidebar:
        st.caption(f"Signed in as **{who}**")
        if st.button("Log out", key="logout"):
            st.logout()


def is_admin() -> bool:
    """True without login; with login, the user must be in ``[precimed] admins`` when that list
    is set (else every signed-in user is an administrator)."""
    if auth_state() == "off":
        return True
    who = current_user()
    if who is None:
        return False
    section: Any = st.secrets.get("precimed", {})
    admins = section.get("admins") if isinstance(section, Mapping) else None
    return not admins or who in admins


def refuse_anonymous() -> None:
    """Defence in depth for pages (called by ``pages/_ui.py: page_setup``): stop the page for an
    anonymous user when login is on, should a page ever run without ``app.py``'s gate (e.g. a
    first request racing the switch-off of Streamlit's legacy pages/ router)."""
    if auth_state() != "off" and current_user() is None:
        st.error(REFUSAL, icon="🔒")
        st.stop()
