"""Headless Chromium for the tests marked `chromium` (a pytest plugin).

Debian's `chromium` and `chromium-driver` driven through Python's selenium.  Without them the
tests skip, saying what is missing; in CI (env `CI` set) that is a failure, as for the test
servers (.ci/services installs both packages).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def chromium_missing_reason() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not any(shutil.which(name) for name in CHROMIUM_NAMES):
        return "no chromium on PATH (Debian: apt-get install chromium chromium-driver)"
    if not shutil.which("chromedriver"):
        return "no chromedriver on PATH (Debian: apt-get install chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "Python package selenium is not installed (pip install selenium)"
    return None


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: the browser tests must run)")
    pytest.skip(reason)


@pytest.fixture()
def chromium() -> Iterator[Any]:
    """A headless Chromium (selenium WebDriver), 1400x1000, quit at the end of the test."""
    reason = chromium_missing_reason()
    if reason:
        _skip_or_fail(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary = next(shutil.which(n) for n in CHROMIUM_NAMES if shutil.which(n))
    profile = tempfile.mkdtemp(prefix="cygno-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(binary)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1400,1000", f"--user-data-dir={profile}",
                 "--no-first-run", "--disable-extensions"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
