"""The page in headless Chromium over the sample corpus with the real bundled models and the default generator:
an English answer whose [1] opens the cited span, a Chinese question with a Chinese answer and labels, and an
abstention that shows the closest sources."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from kb import KnowledgeBase
from tests.service.browser import ask, chromium, open_marker
from tests.service.conftest import SAMPLE, Running, serve

pytestmark = pytest.mark.e2e

FILES = [
    "metformin.md",
    "type2-diabetes-diagnosis.md",
    "asthma.md",
    "zh-metformin-contraindications.md",
    "zh-type2-diabetes-diagnosis.md",
]
#: An answer on the default generator takes seconds on 2 cores; a shared CI machine may be several times slower.
ANSWER_TIMEOUT = 600


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    kb = KnowledgeBase.create(tmp_path_factory.mktemp("page") / "kb")
    assert kb.ingest([SAMPLE / name for name in FILES]).failed == 0
    with serve(kb) as running:
        yield running
    kb.close()


def test_an_answer_opens_its_cited_span(server: Running) -> None:
    with chromium() as driver:
        driver.get(server.url + "/")
        turn = ask(driver, "What are the contraindications of metformin?", ANSWER_TIMEOUT)
        assert turn.get_attribute("data-state") == "answered", turn.text
        shown, quote = open_marker(driver, turn)
        assert shown == quote and "eGFR" in shown


def test_a_chinese_question_gets_a_chinese_page(server: Running) -> None:
    with chromium() as driver:
        driver.get(server.url + "/")
        turn = ask(driver, "二甲双胍的禁忌症有哪些？", ANSWER_TIMEOUT)
        assert driver.execute_script("return document.documentElement.lang") == "zh-CN"
        assert driver.find_element(By.ID, "send").text == "提问"
        answer = turn.find_element(By.CSS_SELECTOR, ".answer").text
        assert re.search(r"[\u4e00-\u9fff]", answer), answer
        if turn.get_attribute("data-state") == "answered":
            shown, quote = open_marker(driver, turn)
            assert shown == quote


def test_an_abstention_shows_the_closest_sources(server: Running) -> None:
    with chromium() as driver:
        driver.get(server.url + "/")
        turn = ask(driver, "What dose of remdesivir treats Ebola virus disease in pregnancy?", ANSWER_TIMEOUT)
        assert turn.get_attribute("data-state") == "abstained", turn.text
        closest = turn.find_elements(By.CSS_SELECTOR, ".closest-sources a")
        assert closest, "the closest sources are listed"
        closest[0].click()
        WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, "cited"))
        assert not turn.find_elements(By.CSS_SELECTOR, ".answer .marker")
