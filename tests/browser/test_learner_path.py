"""The learner's whole path in a real browser, on a phone and a desktop, with and without
JavaScript, and on a phone set to dark: fail on a critical choice, review, try again, pass,
sign, certificate. The phone runs leave a screenshot of each screen (README: "Screenshots")."""

from __future__ import annotations

import shutil

import pytest

from .conftest import PATH_RUNS, SCREENSHOTS
from .paths import take_the_module

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("device, js, scheme", PATH_RUNS)
def test_fail_review_retry_pass_and_sign(live_server, new_page, device, js, scheme):
    page = new_page(device, js, scheme=scheme)
    shots = []
    folder = SCREENSHOTS / ("phone-" + ("dark-" if scheme == "dark" else "") + ("js" if js else "nojs"))
    if device == "phone":
        shutil.rmtree(folder, ignore_errors=True)  # no stale shots from an older path
        folder.mkdir(parents=True)

    def checkpoint(name: str) -> None:
        if device != "phone":
            return
        shots.append(name)
        page.screenshot(path=str(folder / f"{len(shots):02d}-{name}.png"), full_page=True)

    take_the_module(page, live_server, js, checkpoint)
    if device == "phone":
        assert len(shots) == 15, shots
