"""Browser-test fixtures: the app served for real on 127.0.0.1, and Debian's Chromium driven by
Playwright (one browser per test session; a fresh context per test).

Without /usr/bin/chromium the browser tests skip (with a reason `make test` prints), except in
CI (CI=true), where they fail: CI must run them. Never `playwright install`: see
shared/ENGINEERING-NOTES.md.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ..helpers import DATA_CONTENT, add_user, close_app, make_app, served  # noqa: F401  (served: for the tests here)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
SKIP_REASON = "Chromium not installed (apt-get install chromium); browser tests skipped"
AXE = Path(__file__).resolve().parent.parent / "vendor" / "axe-4.14.1.min.js"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

DEVICES = {
    "phone": dict(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, device_scale_factor=2),
    "small-phone": dict(viewport={"width": 320, "height": 568}, is_mobile=True, has_touch=True, device_scale_factor=2),
    "desktop": dict(viewport={"width": 1280, "height": 800}),
}

#: The ways the learner's whole path is taken (device, JavaScript, color scheme), for
#: ``@pytest.mark.parametrize("device, js, scheme", PATH_RUNS)``: phone and desktop, with and
#: without JavaScript, and a phone set to dark (a night shift).
PATH_RUNS = [
    pytest.param("phone", True, "light", id="phone-js"),
    pytest.param("phone", False, "light", id="phone-nojs"),
    pytest.param("desktop", True, "light", id="desktop-js"),
    pytest.param("desktop", False, "light", id="desktop-nojs"),
    pytest.param("phone", True, "dark", id="phone-dark-js"),
]

LEARNER_EMAIL = "learner@example.org"
LEARNER_NAME = "Dana Whitfield"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def chromium_missing() -> bool:
    return not os.access(CHROMIUM, os.X_OK)


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: real-browser test (Chromium via Playwright); needs /usr/bin/chromium")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Say it loudly at the end of the run, not only in the -ra list, when Chromium is missing."""
    ran_browser_tests = any(
        "browser" in getattr(report, "keywords", {})
        for reports in terminalreporter.stats.values()
        for report in reports
        if hasattr(report, "keywords")
    )
    if ran_browser_tests and chromium_missing():
        terminalreporter.write_sep(
            "!",
            SKIP_REASON if not _in_ci() else "Chromium not installed: browser tests FAILED (CI=true)",
            red=True,
            bold=True,
        )


# --- the browser ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser():
    if chromium_missing():
        if _in_ci():
            pytest.fail(
                f"{CHROMIUM} is missing and CI=true: the browser tests must run in CI (.ci/run installs chromium)",
                pytrace=False,
            )
        pytest.skip(SKIP_REASON)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser):
    """new_page(device, js, bypass_csp=False, scheme="light"): a page in a fresh context (no
    cookies), with the phone or computer set to a light or dark color scheme."""
    contexts = []

    def make(device: str, js: bool, bypass_csp: bool = False, scheme: str = "light"):
        context = browser.new_context(
            **DEVICES[device], java_script_enabled=js, bypass_csp=bypass_csp, locale="en-GB", color_scheme=scheme
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


# --- the app, served for real -------------------------------------------------------------


@pytest.fixture
def live_content() -> Path:
    """The content live_app serves; a test module may override this fixture."""
    return DATA_CONTENT


@pytest.fixture
def live_app(tmp_path, monkeypatch, live_content):
    """The app live_server serves: a fresh SQLite database with one learner (tests may look into it)."""
    app = make_app(f"sqlite:///{tmp_path / 'browser.sqlite3'}", tmp_path, monkeypatch, CONTENT_DIR=str(live_content))
    add_user(app, email=LEARNER_EMAIL, name=LEARNER_NAME)
    yield app
    close_app(app)


@pytest.fixture
def live_server(live_app):
    """live_app on 127.0.0.1:<free port>; its base URL."""
    with served(live_app) as base:
        yield base
