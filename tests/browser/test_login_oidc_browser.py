"""OpenID Connect login end to end (issue 15): a real provider (npm's certified ``oidc-provider``,
tests/auth/oidc/provider.mjs, installed by ``make oidc-provider``) on loopback, a real
``streamlit run app.py`` configured for it, and Chromium through the real redirect flow.

Covers: the anonymous request (any URL lands on the sign-in screen), sign-in through the
provider's login and consent pages, a page with a prediction, the audit log naming the user
(its MAC chain verified), the admin at the Admin page, sign-out through the provider's logout,
the non-admin at the Admin page, and an expired (and a forged) session cookie refused.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from browser_ui import WATERFALL

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.browser, pytest.mark.slow]

OIDC = ROOT / "tests" / "auth" / "oidc"
CLIENT_ID, CLIENT_SECRET = "precimed", "precimed-test-client-secret"
COOKIE_SECRET = "precimed-oidc-browser-test-cookie-secret-0123456789"
REFUSAL = "Sign-in required"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Login:
    app: str
    provider: str
    audit_log: Path
    started_s: float


def _wait(url: str, proc: subprocess.Popen[bytes], log: Path, what: str) -> None:
    deadline = time.time() + 90
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"{what} did not start: {log.read_text(errors='replace')[-2000:]}"
                                   ) from None
            time.sleep(0.3)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def login() -> Iterator[Login]:
    """The provider and the app, wired to each other on free loopback ports."""
    node = shutil.which("node")
    assert node, "node is missing: `make oidc-provider` installs Debian's nodejs"
    assert (OIDC / "node_modules" / "oidc-provider").is_dir(), "run `make oidc-provider`"
    t0 = time.perf_counter()
    folder = Path(tempfile.mkdtemp(prefix="precimed-oidc-"))
    op_port, app_port = _free_port(), _free_port()
    app, provider = f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{op_port}"
    secrets = folder / "secrets.toml"
    secrets.write_text(
        f'[auth]\nredirect_uri = "{app}/oauth2callback"\ncookie_secret = "{COOKIE_SECRET}"\n'
        f'client_id = "{CLIENT_ID}"\nclient_secret = "{CLIENT_SECRET}"\n'
        f'server_metadata_url = "{provider}/.well-known/openid-configuration"\n'
        # Streamlit asks for prompt=select_account unless told otherwise; oidc-provider, like
        # several providers, refuses that optional value ("unsupported prompt value")
        'client_kwargs = { prompt = "login" }\n'
        '[precimed]\nadmins = ["ana@example.org"]\n')
    op_log, app_log, audit_log = folder / "op.log", folder / "app.log", folder / "audit.jsonl"
    with open(op_log, "wb") as out:
        op = subprocess.Popen([node, "provider.mjs", str(op_port), CLIENT_ID, CLIENT_SECRET,
                               f"{app}/oauth2callback"], cwd=OIDC, stdout=out,
                              stderr=subprocess.STDOUT)
    try:
        _wait(f"{provider}/.well-known/openid-configuration", op, op_log, "oidc-provider")
        env = {**os.environ, "PRECIMED_AUDIT_LOG": str(audit_log),
               "TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}
        with open(app_log, "wb") as out:
            st = subprocess.Popen(
                [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(app_port),
                 "--server.address", "127.0.0.1", "--server.headless", "true",
                 "--browser.gatherUsageStats", "false", "--secrets.files", str(secrets)],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait(f"{app}/_stcore/health", st, app_log, "streamlit")
            yield Login(app, provider, audit_log, time.perf_counter() - t0)
        finally:
            _stop(st)
    finally:
        _stop(op)
        shutil.rmtree(folder, ignore_errors=True)


def _context(browser: Any) -> Any:
    context = browser.new_context(viewport={"width": 1400, "height": 1800})
    # the provider's development pages link a web font: no network here, fail it at once
    context.route("**/fonts.googleapis.com/**", lambda route: route.abort())
    return context


def _sign_in(page: Any, url: str, who: str) -> float:
    """From the sign-in screen at ``url`` through the provider's login and consent pages back to
    the app; returns the seconds it took."""
    t0 = time.perf_counter()
    page.goto(url)
    page.get_by_text(REFUSAL).wait_for()
    page.get_by_role("button", name="Log in").click()
    page.locator('input[name="login"]').fill(who)  # the provider's own login form
    page.locator('input[name="password"]').fill("any password")
    page.get_by_role("button", name="Sign-in").click()
    page.get_by_role("button", name="Continue").click()  # consent
    page.get_by_text(f"Signed in as {who}").wait_for()
    assert page.url.startswith("/".join(url.split("/")[:3]))
    return time.perf_counter() - t0


def test_anonymous_then_sign_in_predict_audit_admin_sign_out(browser: Any, login: Login) -> None:
    context = _context(browser)
    page = context.new_page()
    page.set_default_timeout(180_000)
    # anonymous: any URL shows the sign-in screen and nothing of the app
    page.goto(f"{login.app}/admin")
    page.get_by_text(REFUSAL).wait_for()
    page.get_by_role("button", name="Log in").wait_for()
    assert page.get_by_text("Import a model bundle").count() == 0
    took = _sign_in(page, f"{login.app}/genomics", "ana@example.org")  # a deep link
    print(f"\nOIDC sign-in through the provider: {took:.1f} s (servers up in "
          f"{login.started_s:.1f} s)")
    page.goto(f"{login.app}/genomics")
    page.locator(WATERFALL).first.wait_for()
    def _lines() -> list[dict[str, Any]]:
        if not login.audit_log.is_file():
            return []
        return [json.loads(x) for x in login.audit_log.read_text().splitlines()]

    # the server's warm-up thread audits its own start-up predictions under "warm-up"
    deadline = time.time() + 60
    while time.time() < deadline and not [x for x in _lines() if x["who"] != "warm-up"]:
        time.sleep(0.2)
    lines = _lines()
    users = [x for x in lines if x["who"] != "warm-up"]
    assert {x["action"] for x in users} >= {"predict"} and {x["who"] for x in users} == {"ana@example.org"}
    assert {x["action"] for x in lines if x["who"] == "warm-up"} <= {"predict", "explain"}
    from precimed import audit

    assert audit.verify(login.audit_log).ok
    page.goto(f"{login.app}/admin")
    page.get_by_text("Import a model bundle").wait_for()  # ana is on the admin list
    page.get_by_role("button", name="Log out").click()
    # the provider's RP-initiated logout asks for confirmation, then returns to the app
    page.get_by_role("button", name="Yes, sign me out").click()
    page.get_by_text(REFUSAL).wait_for()
    assert page.locator(".stPlotlyChart, svg[data-chart]").count() == 0
    assert not [c for c in context.cookies() if c["name"] == "_streamlit_user"]
    context.close()


def _session_cookie(context: Any) -> dict[str, Any]:
    [cookie] = [c for c in context.cookies() if c["name"] == "_streamlit_user"]
    return dict(cookie)


def test_non_admin_then_expired_and_forged_sessions(browser: Any, login: Login) -> None:
    from itsdangerous import TimestampSigner, URLSafeTimedSerializer

    context = _context(browser)
    page = context.new_page()
    page.set_default_timeout(180_000)
    _sign_in(page, login.app, "bob@example.org")
    page.goto(f"{login.app}/admin")
    page.get_by_text("Administrators only: your account is not in [precimed] admins").wait_for()
    assert page.get_by_text("Import a model bundle").count() == 0
    cookie = _session_cookie(context)
    user = URLSafeTimedSerializer(COOKIE_SECRET, salt="_streamlit_user").loads(cookie["value"])
    assert json.loads(user)["email"] == "bob@example.org"

    class FortyDaysAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 40 * 86400

    for value in (URLSafeTimedSerializer(COOKIE_SECRET, salt="_streamlit_user",
                                         signer=FortyDaysAgo).dumps(user),  # expired
                  URLSafeTimedSerializer("another-secret-" * 4, salt="_streamlit_user")
                  .dumps(user.replace("bob@", "ana@"))):  # forged as the admin
        context.clear_cookies()
        context.add_cookies([{**cookie, "value": value}])
        page.goto(f"{login.app}/admin")
        page.get_by_text(REFUSAL).wait_for()
        assert page.get_by_text("Import a model bundle").count() == 0
    context.close()
