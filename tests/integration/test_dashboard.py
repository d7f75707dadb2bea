"""The live dashboard in headless Chromium against a real worker: alerts pushed over SSE appear as rows.

Needs Debian's ``chromium`` and ``chromium-driver`` and the ``selenium`` package; skips, saying which
is missing, otherwise. The screenshot is saved in the test's tmp_path and its path printed (``-s``).
"""

from __future__ import annotations

import asyncio
import random
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.synthetic.transactions import generate_transactions
from pipeline.tooling.demo import malformed_message
from tests.integration.kafka_helpers import produce_many
from tests.integration.web_helpers import free_port_pair, get, served_url, until_ready
from tests.integration.workers import MODEL_DIR, Topics, WorkerProcess, collect, keyed, values, worker_env

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def _missing() -> str | None:
    if not Path(CHROMIUM).exists() or not Path(CHROMEDRIVER).exists():
        return "Chromium not installed: apt-get install chromium chromium-driver"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium not installed: pip install selenium"
    return None


pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not (MODEL_DIR / "fraud").exists(), reason="models not built: run `make models`"),
    pytest.mark.skipif(_missing() is not None, reason=str(_missing())),
]

NEGATIVE_TEXTS = [
    "Absolutely terrible service, the app crashed again and support ignored me. Worst bank ever.",
    "I hate this, they charged me twice and nobody answers. Total scam, never again.",
    "Awful experience, furious and disgusted, my account was hacked and they did nothing.",
]


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1400,1100",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(flag)
    service = Service(executable_path=CHROMEDRIVER, log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(condition: Any, timeout_s: float, what: str, alive: Any = lambda: None) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        alive()
        found = condition()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


async def test_alerts_appear_live_on_the_dashboard(broker: str, tmp_path: Path, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    topics = Topics()
    port = free_port_pair()
    worker = WorkerProcess(
        worker_env(broker, topics, STREAMGUARD_WEB_PORT=str(port)), tmp_path / "worker.log"
    )
    try:
        base = await served_url(worker)
        await until_ready(worker, base)
        status, page = get(base + "dashboard")
        assert status == 200 and b"StreamGuard" in page
        assert get(base + "static/dashboard.js")[0] == 200
        assert get(base + "static/..%2Fweb.py")[0] == 404

        # The page is open before any event exists: alerts must arrive by push, not by reload.
        browser.get(base)
        wait_for(
            lambda: browser.find_element(By.ID, "connection").get_attribute("data-state") == "live",
            20,
            "the event stream to connect",
            worker.assert_alive,
        )
        assert browser.find_elements(By.CSS_SELECTOR, "#alert-rows tr.empty")

        # Amounts at or above STREAMGUARD_LARGE_AMOUNT (5,000) alert whatever the model says.
        txs = [tx for tx, _ in generate_transactions(6, seed=11, fraud_rate=0.5)]
        for tx in txs[:3]:
            tx["amount"] = 7_500.0
        texts = [
            {"event_id": f"neg-{i}", "text": text, "timestamp": int(time.time() * 1000), "source": "review"}
            for i, text in enumerate(NEGATIVE_TEXTS)
        ]
        await produce_many(
            broker,
            topics.transactions,
            [keyed(tx) for tx in txs] + [(None, malformed_message("not_json", random.Random(1)))],
        )
        await produce_many(broker, topics.texts, [keyed(t) for t in texts])

        def alert_rows() -> list[Any]:
            return browser.find_elements(By.CSS_SELECTOR, "#alert-rows tr.alert")

        started = time.monotonic()
        wait_for(lambda: len(alert_rows()) >= 3, 30, "alert rows on the page", worker.assert_alive)
        shown_after_s = time.monotonic() - started

        # What the page lists is exactly what the worker published on the alert topics.
        records = await collect(
            broker,
            [topics.alerts_fraud, topics.alerts_sentiment, topics.scores_transactions, topics.scores_texts],
            lambda rs: sum(r.topic.startswith(topics.prefix + ".scores") for r in rs) >= 9,
            timeout_s=30,
            settle_s=0.5,
            alive=worker.assert_alive,
        )
        alerts = values(r for r in records if ".alerts." in r.topic)
        expected = {str(a["alert_id"]) for a in alerts}
        assert len(expected) >= 3
        wait_for(lambda: len(alert_rows()) >= len(expected), 10, "every published alert on the page")
        rows = alert_rows()
        assert {r.get_attribute("data-key") for r in rows} == expected
        kinds = {r.find_elements(By.TAG_NAME, "td")[1].text for r in rows}
        assert "fraud" in kinds
        for row in rows:
            severity = row.get_attribute("data-severity")
            assert severity in {"low", "medium", "high", "critical"}
            assert f"sev-{severity}" in (row.get_attribute("class") or "")
            assert row.find_elements(By.CSS_SELECTOR, ".reasons li"), "every alert says why"
        large = [r for r in rows if "fraud.large_amount" in r.text]
        assert len(large) >= 3, [r.text for r in rows]
        # Newest first: publication times do not increase down the table.
        by_id = {str(a["alert_id"]): a["timestamps"]["published"] for a in alerts}
        times = [by_id[r.get_attribute("data-key")] for r in rows]
        assert times == sorted(times, reverse=True)

        # The counters: one dead letter, and some throughput and latency once scores flowed.
        wait_for(lambda: browser.find_element(By.ID, "kpi-dlq").text == "1", 10, "the dead-letter count")
        latency = browser.find_element(By.ID, "kpi-latency").text
        assert latency.count("/") == 2 and "\u2013" not in latency, latency  # no placeholder dash
        assert browser.find_element(By.ID, "kpi-sla").text.endswith("%")
        assert browser.find_elements(By.CSS_SELECTOR, "#chart-latency path.p99")

        await asyncio.sleep(0.5)  # let the row highlight fade a little for the picture
        shot = tmp_path / "dashboard.png"
        assert browser.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000
        print(f"\ndashboard screenshot: {shot} (alerts shown {shown_after_s:.1f} s after producing)")
    finally:
        worker.stop()
