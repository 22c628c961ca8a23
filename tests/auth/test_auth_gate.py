"""OIDC login gate (pages/_auth.py, called by app.py): with [auth] configured, an anonymous user
sees the sign-in screen and nothing else on every page; signed in, the app works and the audit
log names the user; without [auth] the app is open as before."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
PAGES = sorted(p.name for p in (ROOT / "pages").glob("[0-9]*_*.py"))
AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback",
        "cookie_secret": "a-test-cookie-secret-of-some-length",
        "client_id": "precimed-test", "client_secret": "not-a-secret",
        "server_metadata_url": "https://idp.invalid/.well-known/openid-configuration"}


def _app(*, auth: bool, user: dict | None = None, admins: list[str] | None = None) -> AppTest:  # type: ignore[type-arg]
    at = AppTest.from_file(APP, default_timeout=90)
    if auth:
        at.secrets["auth"] = AUTH
    if admins is not None:
        at.secrets["precimed"] = {"admins": admins}
    at.user = user if user is not None else {}
    return at


def _visible_text(at: AppTest) -> str:
    parts = [e.value for kind in ("title", "header", "subheader", "markdown", "caption", "warning",
                                  "info", "success", "error") for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


def _assert_refusal_only(at: AppTest, where: str) -> None:
    assert not at.exception, where
    assert [e.value for e in at.error] == [
        "Sign-in required: this PreciMed installation is configured for OpenID Connect login, "
        "and anonymous users cannot see any page."], where
    assert [t.value for t in at.title] in (["PreciMed"], []), where
    for kind in ("selectbox", "radio", "dataframe", "metric", "warning", "info", "success",
                 "text_input", "number_input", "slider", "checkbox", "tabs", "expander",
                 "subheader", "markdown"):
        assert len(getattr(at, kind)) == 0, f"{where}: a {kind} is shown to an anonymous user"
    assert not at.get("plotly_chart") and not at.get("file_uploader"), where
    assert "catalogue" not in _visible_text(at).lower(), where


@pytest.mark.parametrize("page", [None, *PAGES])
def test_anonymous_user_sees_only_the_refusal(page: str | None) -> None:
    """Through app.py: a session whose user is not (or no longer) signed in asks for a page."""
    at = _app(auth=True, user={"is_logged_in": True, "email": "ana@example.org"})
    at.run()
    if page is not None:
        at.switch_page(f"pages/{page}")
    at.user = {"is_logged_in": False}
    at.run()
    _assert_refusal_only(at, f"app.py → {page}")
    assert [b.label for b in at.button] == ["Log in"]


@pytest.mark.parametrize("page", PAGES)
def test_each_page_refuses_on_its_own(page: str) -> None:
    """Defence in depth: a page run without app.py (Streamlit's legacy router) still refuses."""
    at = AppTest.from_file(str(ROOT / "pages" / page), default_timeout=60)
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": False}
    at.run()
    _assert_refusal_only(at, page)


def test_login_button_starts_the_oidc_redirect_without_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # st.login validates [auth] through Streamlit's secrets singleton, which AppTest's
    # at.secrets does not reach (see AppTest's docstring): hand it the same section.
    from streamlit.runtime.secrets import secrets_singleton

    monkeypatch.setattr(secrets_singleton, "_secrets", {"auth": AUTH})
    at = _app(auth=True, user={"is_logged_in": False})
    at.run()
    at.button(key="login-default").click().run()
    assert not at.exception and len(at.error) == 1  # only the refusal, no "misconfigured" error


def test_named_providers_get_one_button_each() -> None:
    at = AppTest.from_file(APP, default_timeout=60)
    at.secrets["auth"] = {"redirect_uri": AUTH["redirect_uri"], "cookie_secret": AUTH["cookie_secret"],
                          "google": {k: AUTH[k] for k in ("client_id", "client_secret",
                                                          "server_metadata_url")},
                          "okta": {k: AUTH[k] for k in ("client_id", "client_secret",
                                                        "server_metadata_url")}}
    at.user = {"is_logged_in": False}
    at.run()
    assert sorted(b.label for b in at.button) == ["Log in with google", "Log in with okta"]


def test_without_auth_the_app_is_open() -> None:
    at = _app(auth=False)
    at.run()
    assert not at.exception and not at.error
    assert "Model catalogue" in _visible_text(at)
    assert not any("Signed in" in c.value for c in at.sidebar.caption)
    at.switch_page("pages/5_model_cards.py")
    at.run()
    assert not at.exception and at.title[0].value == "Model cards"


def test_signed_in_user_uses_the_app_and_is_audited(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "audit.jsonl"
    monkeypatch.setenv("PRECIMED_AUDIT_LOG", str(log))
    at = _app(auth=True, user={"is_logged_in": True, "email": "ana@example.org",
                               "email_verified": True, "name": "Ana"})
    at.run()
    assert not at.exception and "Model catalogue" in _visible_text(at)
    assert any("ana@example.org" in c.value for c in at.sidebar.caption)
    at.switch_page("pages/1_genomics.py")
    at.run()
    assert not at.exception, _visible_text(at)
    assert any('data-chart="waterfall"' in m.value for m in at.markdown), _visible_text(at)
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert {x["action"] for x in lines} >= {"predict", "explain"}
    assert {x["who"] for x in lines} == {"ana@example.org"}


def test_unreadable_secrets_file_locks_everyone_out(tmp_path: Path) -> None:
    """Fail closed: a secrets.toml that exists but does not parse must not open the app."""
    import streamlit as st
    from streamlit import config

    bad = tmp_path / "secrets.toml"
    bad.write_text("[auth\nclient_id = ")
    original = config.get_option("secrets.files")
    config.set_option("secrets.files", [str(bad)])
    st.secrets._secrets = None
    try:
        at = AppTest.from_file(APP, default_timeout=60)
        at.run()
        assert not at.exception
        assert at.error and at.error[0].value.startswith("Sign-in required")
        assert "could not be read" in _visible_text(at)
        assert not at.button
    finally:
        config.set_option("secrets.files", original)
        st.secrets._secrets = None
