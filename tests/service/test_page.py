"""The page in a real browser (headless Chromium), on the fakes: ask, see the answer, open the cited span."""

from __future__ import annotations

from collections.abc import Callable

from selenium.webdriver.common.by import By

from tests.service.browser import ask, chromium, open_marker
from tests.service.conftest import Running


def test_the_cited_span_is_highlighted_in_its_document(running_server: Callable[..., Running]) -> None:
    server = running_server()
    with chromium() as driver:
        driver.get(server.url + "/")
        turn = ask(driver, "What are the contraindications of metformin?", timeout=60)
        assert turn.get_attribute("data-state") == "answered"
        assert turn.get_attribute("data-drafted") == "yes"  # the draft was shown before the verified answer
        assert not turn.find_elements(By.CSS_SELECTOR, ".draft")  # and replaced by it
        shown, quote = open_marker(driver, turn)
        assert shown == quote
        assert driver.execute_script(  # scrolled into view
            "const r = document.getElementById('cited').getBoundingClientRect();"
            "const p = document.getElementById('source').getBoundingClientRect();"
            "return r.top < p.bottom && r.bottom > p.top"
        )
        copy = turn.find_element(By.CSS_SELECTOR, "button.copy").get_attribute("data-markdown")
        assert copy.startswith("**Q:** What are the contraindications of metformin?") and "[1] " in copy
        follow = ask(driver, "What is its maximum dose?", timeout=60)
        searched = follow.find_element(By.CSS_SELECTOR, ".searched").text
        assert searched == "Searched as: What is the maximum dose of metformin?"
        assert len(driver.find_elements(By.CSS_SELECTOR, ".turn")) == 2  # the conversation stays on the page
