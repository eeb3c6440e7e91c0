"""The profile search page in a real headless Chromium (Debian's chromium and
chromium-driver), against two real workers: a clerk searches a customer on one worker,
the page comes from the worker that owns them, and its figures are those of the JSON API.
The workers require a token (SCORER_WEB_TOKEN), as a deployment should: the clerk signs in
once, and the workers ask each other with the token."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from infra.kafka.admin import ensure_topics
from model.customers import history
from model.customers.segments import SEGMENTS
from model.outlook import artifact as outlook_artifact
from schemas import topics
from streams.clock import to_ms
from tests.integration.scorer import PARTITIONS, ScorerSetup, Worker, collect, wait_stable

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

DAY = 86_400_000
NOW = int(time.time() * 1000)
STATION = {"station_id": "st-pp-1", "city": "Enshi", "station_type": "chess_room"}
USERS = [f"u-pp-{i:03d}" for i in range(30)]
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
TOKEN = "profile-page-token-" + "7" * 16


@pytest.fixture(scope="module")
def workers(
    kafka_bootstrap: str,
    trained_model: Path,
    customer_model: Path,
    outlook_model: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ScorerSetup, list[Worker]]]:
    setup = ScorerSetup(
        kafka_bootstrap,
        trained_model,
        tmp_path_factory.mktemp("pages"),
        customer_model,
        settings={"scorer_web_token": TOKEN, "scorer_outlook_dir": outlook_model},
    )
    ensure_topics(kafka_bootstrap, PARTITIONS, specs=topics.prefixed(setup.prefix))
    rng = np.random.default_rng(11)
    p = setup.producer()
    setup.send_record(p, topics.REGISTRY, STATION["station_id"], STATION)
    for u, user in enumerate(USERS):
        times = sorted(NOW - int(t) for t in rng.integers(DAY, 400 * DAY, 1 + u % 14))
        for k, at in enumerate(times):
            setup.send_record(
                p,
                topics.ORDERS,
                user,
                {
                    "order_id": f"pp-{u}-{k}",
                    "session_id": None,
                    "user_id": user,
                    "station_id": STATION["station_id"],
                    "lottery_type": "TWO_COLOR_BALL",
                    "amount": int(rng.integers(200, 4000)),
                    "placed_at": at,
                },
            )
    p.flush(10)
    pool = [Worker(setup, "w1").start(), Worker(setup, "w2").start()]
    wait_stable(pool)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # every customer's orders recorded
        status, body = pool[0].get("/api/segments")
        if status == 200 and body["customers"] == len(USERS) and not body["missing_workers"]:
            break
        time.sleep(1)
    yield setup, pool
    for w in pool:
        w.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    assert CHROMIUM and DRIVER, "chromium and chromium-driver are installed by `make setup`"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1200,1600",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    yield driver
    driver.quit()


def _local_users(worker: Worker) -> set[str]:
    """The customers whose history this worker holds (its own part of the segments)."""
    users: set[str] = set()
    for segment in SEGMENTS:
        status, body = worker.get(f"/api/segments-local?segment={quote(segment)}&limit=1000")
        assert status == 200, body
        users |= {r["user_id"] for r in body["customers"]}
    return users


def _owned_elsewhere(pool: list[Worker]) -> tuple[str, Worker, Worker]:
    """A customer, the worker that does not own them (searched), and the one that does."""
    first, second = _local_users(pool[0]), _local_users(pool[1])
    assert first | second == set(USERS) and not first & second
    return sorted(second)[0], pool[0], pool[1]


def _sign_in(driver: webdriver.Chrome) -> None:
    """Give the token on the sign-in form in front of `driver`, and wait for the search."""
    driver.find_element(By.ID, "token").send_keys(TOKEN)
    driver.find_element(By.ID, "sign-in").click()
    WebDriverWait(driver, 20).until(ec.presence_of_element_located((By.ID, "q")))


def _open(driver: webdriver.Chrome, url: str) -> None:
    """Open `url`, signing in first if the page asks for the token (each test can run
    alone, whatever the ones before it left in the browser)."""
    driver.get(url)
    WebDriverWait(driver, 20).until(
        lambda d: d.find_elements(By.ID, "token") or d.find_elements(By.ID, "q")
    )
    if driver.find_elements(By.ID, "token"):
        _sign_in(driver)
        driver.get(url)


def _text(driver: webdriver.Chrome, element_id: str) -> str:
    return str(driver.find_element(By.ID, element_id).text)


def test_a_searched_customer_shows_the_figures_of_the_json_api(
    workers: tuple[ScorerSetup, list[Worker]], browser: webdriver.Chrome, tmp_path: Path
) -> None:
    _, pool = workers
    user, searched, owner = _owned_elsewhere(pool)
    browser.delete_all_cookies()
    browser.get(f"{searched.url}/profiles")  # without the token: to the sign-in form
    WebDriverWait(browser, 20).until(ec.presence_of_element_located((By.ID, "token")))
    browser.find_element(By.ID, "token").send_keys("not-the-token-at-all")
    browser.find_element(By.ID, "sign-in").click()
    # the click returns before the answer is shown: wait for it (fails after 20 s)
    WebDriverWait(browser, 20).until(
        ec.text_to_be_present_in_element((By.ID, "error"), "not this worker's")
    )
    _sign_in(browser)
    assert browser.current_url == f"{searched.url}/profiles"
    box = browser.find_element(By.ID, "q")
    box.send_keys(user)
    browser.find_element(By.ID, "search").click()
    WebDriverWait(browser, 20).until(ec.text_to_be_present_in_element((By.ID, "user_id"), user))
    status, api = owner.get(f"/api/profiles/{user}")
    assert status == 200
    p = api["profile"]
    assert _text(browser, "segment") == p["segment"]
    assert _text(browser, "cluster") == p["cluster"]
    assert _text(browser, "scores") == f"{p['r_score']} {p['f_score']} {p['m_score']}"
    assert int(_text(browser, "frequency")) == p["frequency"]
    assert int(_text(browser, "orders")) == p["orders"] == 1 + USERS.index(user) % 14
    # the page and the API are computed a moment apart: P(alive) moves a little with time
    assert float(_text(browser, "p_alive")) == pytest.approx(p["p_alive"], abs=2e-4)
    assert float(_text(browser, "expected_purchases_30d")) == pytest.approx(
        p["expected_purchases_30d"], abs=2e-4
    )
    assert float(_text(browser, "clv_yuan")) == pytest.approx(p["clv_fen"] / 100, abs=0.02)
    assert float(_text(browser, "recency_days")) == pytest.approx(p["recency_days"], abs=0.01)
    # the outlook: the month in progress, from the months before it, by the outlook artifact
    assert (
        _text(browser, "outlook_month")
        == p["outlook_month"]
        == time.strftime("%Y-%m", time.gmtime(time.time() + 8 * 3600))
    )
    assert (
        _text(browser, "next_month_class")
        == p["next_month_class"]
        == max(("high", "medium", "low"), key=lambda c: p[f"p_{c}"])
    )
    assert float(_text(browser, "loyalty_score")) == pytest.approx(p["loyalty_score"], abs=0.05)
    assert _text(browser, "outlook_version") == p["outlook_version"]
    assert p["outlook_version"].startswith("outlook-20261203-")
    rows = browser.find_elements(By.CSS_SELECTOR, "#orders_table tr")
    assert len(rows) - 1 == min(10, p["orders"])  # the recent purchases, a header above
    assert browser.find_elements(By.CSS_SELECTOR, "#alive_chart svg polyline")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#timeline svg circle")) == len(rows) - 1
    browser.save_screenshot(str(tmp_path / "profile.png"))


def test_the_profiles_on_kafka_carry_the_outlook(
    workers: tuple[ScorerSetup, list[Worker]], outlook_model: Path
) -> None:
    """Each CustomerProfile (v2) the workers publish has the outlook of the month of its
    last order, by the artifact they serve."""
    setup, _ = workers
    records = collect(
        setup, topics.CUSTOMER_PROFILES, lambda rs: {r["user_id"] for r in rs} >= set(USERS)
    )
    version = outlook_artifact.load(outlook_model).version
    assert {r["user_id"] for r in records} >= set(USERS)
    for r in records:
        assert r["outlook_version"] == version
        assert r["outlook_month"] == history.month_name(history.local_month(to_ms(r["updated_at"])))
        p = [r["p_high"], r["p_medium"], r["p_low"]]
        assert sum(p) == pytest.approx(1, abs=1e-5)
        assert r["next_month_class"] == ("high", "medium", "low")[int(np.argmax(p))]
        assert 0 < r["loyalty_score"] < 120


def test_browsing_a_segment_lists_its_customers_from_every_worker(
    workers: tuple[ScorerSetup, list[Worker]], browser: webdriver.Chrome
) -> None:
    _, pool = workers
    _, mix = pool[1].get("/api/segments")
    assert mix["customers"] == len(USERS) and not mix["missing_workers"]
    _open(browser, f"{pool[0].url}/profiles")
    shown = {
        e.get_attribute("data-segment"): int(e.text)
        for e in browser.find_elements(By.CSS_SELECTOR, "td[data-segment]")
    }
    assert shown == mix["counts"]
    biggest = max(mix["counts"], key=mix["counts"].get)
    _open(browser, f"{pool[0].url}/profiles?segment={quote(biggest)}&size=5")
    listed = []
    while True:
        listed += [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#customers td a")]
        following = browser.find_elements(By.ID, "next")
        if not following:
            break
        following[0].click()
    assert len(listed) == len(set(listed)) == mix["counts"][biggest]
    _, api = pool[1].get(f"/api/segments/{quote(biggest)}?page=1&size=100")
    assert listed == [r["user_id"] for r in api["customers"]]  # highest CLV first, both ways


def test_bad_queries_get_a_message_and_unknown_customers_a_404(
    workers: tuple[ScorerSetup, list[Worker]], browser: webdriver.Chrome
) -> None:
    _, pool = workers
    status, body = pool[0].get("/api/segments/Whales")
    assert status == 400 and "is not one of" in body["error"]
    status, body = pool[0].get("/api/segments/Lost?page=0")
    assert status == 400 and "page must be" in body["error"]
    assert pool[0].get("/api/profiles/u-nobody")[0] == 404
    _open(browser, f"{pool[0].url}/profiles?segment=Whales")
    assert "is not one of" in _text(browser, "error")
    _open(browser, f"{pool[0].url}/profiles/u-nobody")
    assert "No orders are known for user u-nobody" in _text(browser, "missing")
