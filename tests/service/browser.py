"""Headless Chromium (Debian's ``chromium`` and ``chromium-driver``) driven by Selenium, for the page tests."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
#: Chromium's own network traffic (updates, sync, metrics) is off: these machines reach no other host.
FLAGS = (
    "--headless=new --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking "
    "--disable-component-update --disable-sync --disable-dev-shm-usage --window-size=1300,900"
).split()


@contextmanager
def chromium() -> Iterator[Any]:
    """A Chromium WebDriver with a fresh profile; skips the test where chromium or its driver is not installed."""
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.skip("the page tests need Debian's chromium and chromium-driver (make browser installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="medkb-chromium-")
    for flag in [*FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def ask(driver: Any, question: str, timeout: float) -> Any:
    """Types ``question``, sends it and waits until its turn is no longer drafting; returns the turn element."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    turns = len(driver.find_elements(By.CSS_SELECTOR, ".turn"))
    box = driver.find_element(By.ID, "question")
    box.send_keys(question)
    driver.find_element(By.ID, "send").click()
    WebDriverWait(driver, 10).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".turn")) > turns)
    turn = driver.find_elements(By.CSS_SELECTOR, ".turn")[turns]
    WebDriverWait(driver, timeout).until(lambda d: turn.get_attribute("data-state") != "drafting")
    return turn


def open_marker(driver: Any, turn: Any, marker: int = 1) -> tuple[str, str]:
    """Clicks ``[marker]`` in the turn's answer; returns (highlighted text in the source panel, citation's quote)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    turn.find_element(By.CSS_SELECTOR, f".answer .marker[data-marker='{marker}']").click()
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, "cited"))
    shown = driver.execute_script("return document.getElementById('cited').textContent")
    quote = driver.execute_script(
        "return arguments[0].medkb.citations.find(c => c.marker === arguments[1]).quote", turn, marker
    )
    return shown, quote
