"""The built-in dashboard in a real browser: Debian's headless Chromium driven by Selenium.

The sink's own HTTP app (`build_app`) serves a real chDB store holding a quarter of generated
histories that went through the rules (as `dossierflow demo` does) plus three dossiers placed
around the wall clock for the unit page. Every page must load without a console error and
show the numbers `GET /report?format=json` gives for the same choice; the pickers must refresh
the figures without reloading the page. Screenshots go to the test's output directory; set
DOSSIERFLOW_DASHBOARD_SCREENSHOT=docs/images/dashboard.png to refresh docs/bi.md's picture.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import tempfile
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from aiohttp import web
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from dossierflow.backfill import backfill
from dossierflow.kafka.local_broker import free_port
from dossierflow.replay import read_events, replay
from dossierflow.reporting.report import COMPLIANCE_KEYS, LOCAL
from dossierflow.rules.alerts import AlertKind, alert_id
from dossierflow.rules.catalog import Catalog, load_catalog
from dossierflow.rules.evaluation import evaluate
from dossierflow.rules.records import fact_records
from dossierflow.schemas.event import Channel, DossierEvent, EventType
from dossierflow.schemas.facts import DossierAlert, DossierFact
from dossierflow.simulate import DEFAULT_START, generate_lines
from dossierflow.sink_service import build_app
from dossierflow.sinks.base import SinkBatch
from dossierflow.sinks.clickhouse import ClickHouseSink
from dossierflow.sinks.kafka_sink import SinkStatus
from dossierflow.sinks.settings import SinkSettings
from dossierflow.store import Store, connect, migrate, refresh_rollups
from tests.test_report import History, write

pytestmark = [pytest.mark.clickhouse, pytest.mark.browser, pytest.mark.timeout(600)]

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
QUARTER = (date(2026, 1, 1), date(2026, 4, 1))
FEBRUARY = (date(2026, 2, 1), date(2026, 3, 1))
UNIT = "X-02"
"""A commune of the sample catalogue (UBND phường Hạc Thành)."""
NOT_FIGURES = ("unit_code", "unit_name", "level", *COMPLIANCE_KEYS)
"""Keys of GET /report the dashboard's table does not show: the compliance figures are the
report's (docs/compliance.md), printed as a table of their own."""
WAIT = 60.0
"""Seconds to wait for a refresh; generous for a loaded 2-core machine."""


# --- the served store -----------------------------------------------------------------


def live_dossiers(now: datetime) -> list[History]:
    """Open dossiers of UNIT around the wall clock: one overdue since yesterday's deadline,
    one due within the hour (at risk whatever the day and hour: less than the 8-hour lead
    of working time is left), one due in a month (neither)."""

    def stamp(instant: datetime) -> str:
        return instant.astimezone(LOCAL).strftime("%Y-%m-%d %H:%M")

    return [
        History("LIVE-OVERDUE", UNIT).received(
            stamp(now - timedelta(days=20)), due=stamp(now - timedelta(days=2))
        ),
        History("LIVE-AT-RISK", UNIT).received(
            stamp(now - timedelta(days=20)), due=stamp(now + timedelta(hours=1))
        ),
        History("LIVE-LATER", UNIT).received(
            stamp(now - timedelta(days=1)), due=stamp(now + timedelta(days=30))
        ),
    ]


def live_at_risk_alert(dossier: History, now: datetime) -> DossierAlert:
    """The AT_RISK alert the worker fired an hour ago for `dossier` (the unit page lists as
    at risk the dossiers whose alert of their current deadline fired)."""
    (due,) = {f.due_at for f in dossier.facts() if f.due_at is not None}
    return DossierAlert(
        alert_id=alert_id(dossier.dossier_id, AlertKind.AT_RISK, due), kind="AT_RISK",
        dossier_id=dossier.dossier_id, at=now - timedelta(hours=1), deadline=due,
        unit_code=UNIT, handling_unit_code=UNIT, procedure_code=None, apology_issued=False,
        recipients=(), text_vi="", text_en="",
    )


STEP_DEPARTMENT = "S-TP"
"""Sở Tư pháp, a department of the sample catalogue: the open step of LIVE-STEP is its."""


def live_step_dossier(now: datetime, catalog: Catalog) -> list[DossierFact]:
    """An open dossier of UNIT overdue since its deadline two days ago, whose one step, at
    STEP_DEPARTMENT, ran out three days ago: judged at the end of any period from today on,
    the department caused the delay (rules/steps.py). Its facts are the rules' own."""
    received, dossier_id = now - timedelta(days=20), "LIVE-STEP"
    events = [
        DossierEvent(schema_version=1, event_id="live-step-0", dossier_id=dossier_id,
                     type=EventType.RECEIVED, occurred_at=received, unit_code=UNIT,
                     procedure_code="1.000894", channel=Channel.IN_PERSON,
                     due_at=now - timedelta(days=2)),
        DossierEvent(schema_version=1, event_id="live-step-1", dossier_id=dossier_id,
                     type=EventType.STEP_STARTED, occurred_at=received, sequence=1,
                     step_id="1", step_unit_code=STEP_DEPARTMENT,
                     step_due_at=now - timedelta(days=3)),
    ]
    return fact_records(evaluate(dossier_id, events, catalog, now), catalog)


def fill(store: Store, catalog: Catalog, directory: Path) -> None:
    """A quarter of generated histories through the rules, stored by the sink's writer."""
    events_path = directory / "events.jsonl"
    events_path.write_bytes(b"".join(generate_lines(4000, seed=12, days=90)))
    events = read_events(events_path, lambda n, reason: None)
    assert events.latest is not None and DEFAULT_START.date() < QUARTER[1]
    sink = ClickHouseSink(store)
    backfill(replay(events, catalog, events.latest), catalog, sink, "test")
    now = datetime.now(LOCAL)
    live = live_dossiers(now)
    write(store, [f for d in live for f in d.facts()], 10**6)
    write(store, live_step_dossier(now, catalog), 2 * 10**6)
    (at_risk,) = (d for d in live if d.dossier_id == "LIVE-AT-RISK")
    sink.write(SinkBatch("alerts", 0, 0, 0, (live_at_risk_alert(at_risk, now),), "live"))


class Served:
    """The sink's HTTP app on a free port, in a thread with its own event loop."""

    def __init__(self, store: Store, catalog: Catalog) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._app = build_app(SinkStatus(store=store.url.display), SinkSettings(), store, catalog)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        runner = web.AppRunner(self._app)
        self._loop.run_until_complete(runner.setup())
        self._loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())

    def __enter__(self) -> Served:
        self._thread.start()
        assert self._ready.wait(30), "the sink's HTTP app did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)

    def report(self, period: tuple[date, date], unit: str | None = None) -> dict[str, Any]:
        """`GET /report?format=json` for the period (and unit)."""
        params = {"format": "json", "from": period[0].isoformat(), "to": period[1].isoformat()}
        report: dict[str, Any] = self.json("/report", **params, **({"unit": unit} if unit else {}))
        return report

    def json(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.base}{path}?{query}", timeout=60) as response:
            return json.load(response)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    directory = tmp_path_factory.mktemp("dashboard")
    catalog = load_catalog()
    store = connect(f"chdb://{directory / 'ch'}")
    try:
        migrate(store)
        fill(store, catalog, directory)
        refresh_rollups(store)  # the dashboard reads the rollup, /report the live view
        with Served(store, catalog) as server:
            yield server
    finally:
        store.close()


# --- the browser ----------------------------------------------------------------------


@contextmanager
def chromium(locale: str | None = None) -> Iterator[WebDriver]:
    """Headless Chromium; `locale` (e.g. en-US) sets the browser's language and locale, as a
    user's browser has them (what a native date input would format by)."""
    for binary in (CHROMIUM, CHROMEDRIVER):
        assert os.access(binary, os.X_OK), (
            f"{binary} is missing: run `bash deploy/install_chromium.sh` (Debian's chromium "
            "and chromium-driver)"
        )
    profile = tempfile.mkdtemp(prefix="dossierflow-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", "--window-size=1366,900", "--hide-scrollbars",
        *((f"--lang={locale}", f"--accept-lang={locale}") if locale else ()),
    ):
        options.add_argument(flag)
    if locale:
        options.add_experimental_option("prefs", {"intl.accept_languages": locale})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    environment = {**os.environ, **({"LANGUAGE": locale.replace("-", "_")} if locale else {})}
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER, env=environment))
    driver.set_page_load_timeout(WAIT)
    if locale:  # the page's default Intl locale too (headless takes it from the process)
        driver.execute_cdp_cmd("Emulation.setLocaleOverride", {"locale": locale})
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    with chromium() as driver:
        yield driver


def console_errors(driver: WebDriver) -> list[str]:
    return [e["message"] for e in cast(Any, driver).get_log("browser") if e["level"] == "SEVERE"]


def screenshot(driver: WebDriver, path: Path) -> Path:
    """The whole page, not only the window (DevTools' capture beyond the viewport)."""
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
    )
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def open_page(driver: WebDriver, url: str) -> None:
    cast(Any, driver).get_log("browser")  # drop what earlier pages logged
    driver.get(url)
    assert driver.execute_script("return document.readyState") == "complete"


def refreshes(driver: WebDriver) -> int:
    return int(driver.find_element(By.TAG_NAME, "body").get_attribute("data-refreshes") or 0)


def wait_for_refresh(driver: WebDriver, before: int) -> None:
    try:
        WebDriverWait(driver, WAIT).until(lambda d: refreshes(d) > before)
    except TimeoutException:
        error = driver.find_element(By.ID, "refresh-error").text
        raise AssertionError(f"no refresh within {WAIT} s; page says: {error!r}") from None


# --- reading numbers the way a person reads them --------------------------------------


def number(text: str, lang: str) -> int | float | None:
    """`1.234` / `66,67%` (vi) or `1,234` / `66.67%` (en) as 1234 / 0.6667; empty is None."""
    text = text.strip()
    if text in ("", "—"):
        return None
    thousands, decimal = (".", ",") if lang == "vi" else (",", ".")
    plain = text.replace(thousands, "").replace(decimal, ".")
    if plain.endswith("%"):
        return round(float(plain[:-1]) / 100, 4)
    return int(plain)


def cards_on_page(driver: WebDriver, lang: str) -> dict[str, int | float | None]:
    return {
        card.get_attribute("data-key") or "": number(
            card.find_element(By.CLASS_NAME, "card-value").text, lang
        )
        for card in driver.find_elements(By.CSS_SELECTOR, "#summary .card")
    }


def expected_cards(total: dict[str, Any]) -> dict[str, int | float | None]:
    keys = ("carried_over", "received", "on_time_rate", "in_progress", "in_progress_overdue",
            "online_rate")
    out = {k: total[k] for k in keys}
    out["resolved"] = (
        total["resolved_early"] + total["resolved_on_time"] + total["resolved_overdue"]
    )
    return out


def table_on_page(driver: WebDriver, lang: str) -> dict[str, dict[str, int | float | None]]:
    """unit code ('' for the total) -> key -> the number shown."""
    out = {}
    for row in driver.find_elements(By.CSS_SELECTOR, "#report-table tr[data-unit]"):
        out[row.get_attribute("data-unit") or ""] = {
            cell.get_attribute("data-key") or "": number(cell.text, lang)
            for cell in row.find_elements(By.CSS_SELECTOR, "td[data-key]")
        }
    return out


def chart_values(driver: WebDriver, selector: str) -> dict[str, float]:
    return {
        element.get_attribute("data-label") or "": float(element.get_attribute("data-value") or 0)
        for element in driver.find_elements(By.CSS_SELECTOR, selector)
    }


def series_total(driver: WebDriver, series: str) -> int:
    points = driver.find_elements(By.CSS_SELECTOR, f"#chart-trend circle.point.{series}")
    return sum(int(p.get_attribute("data-value") or 0) for p in points)


def as_of_text(figures_as_of: str, lang: str) -> str:
    """The as-of line for the JSON's `figures_as_of`, in the format of the brief."""
    instant = datetime.fromisoformat(figures_as_of)
    assert instant.utcoffset() == timedelta(hours=7), "not in the province's time zone"
    if lang == "vi":
        return f"Số liệu tính đến {instant:%H:%M:%S %d/%m/%Y}"
    return f"Figures as of {instant:%Y-%m-%d %H:%M:%S}"


def figures_as_of(served: Served, api: str, query: dict[str, str]) -> str:
    as_of: str = served.json(api, **query)["figures_as_of"]
    return as_of


def check_as_of_line(driver: WebDriver, lang: str, *readings: str) -> None:
    """The page's as-of line is one of the JSON's `figures_as_of` read just before and just
    after the page's own reading (the rollup refreshes every minute meanwhile)."""
    shown = driver.find_element(By.ID, "figures-as-of").text
    assert shown in {as_of_text(reading, lang) for reading in readings}, shown


# --- the tests ------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_dashboard_shows_the_figures_of_the_json_report(
    served: Served, browser: WebDriver, tmp_path: Path, lang: str
) -> None:
    start, end = QUARTER
    report = served.report(QUARTER)
    assert report["total"]["received"] > 500 and report["total"]["resolved_overdue"] > 0

    query = {"from": str(start), "to": str(end), "lang": lang}
    as_of_before = figures_as_of(served, "/api/dashboard", query)
    open_page(browser, f"{served.base}/dashboard?from={start}&to={end}&lang={lang}")
    assert console_errors(browser) == []
    check_as_of_line(
        browser, lang, as_of_before, figures_as_of(served, "/api/dashboard", query)
    )
    title = {"vi": "Tỷ lệ giải quyết đúng hạn theo đơn vị", "en": "On-time rate by unit"}[lang]
    assert title in browser.find_element(By.TAG_NAME, "main").text

    assert cards_on_page(browser, lang) == expected_cards(report["total"])
    table = table_on_page(browser, lang)
    assert table.pop("") == {k: v for k, v in report["total"].items() if k not in NOT_FIGURES}
    assert table == {
        row["unit_code"]: {k: v for k, v in row.items() if k not in NOT_FIGURES}
        for row in report["rows"]
    }
    assert chart_values(browser, "#chart-rate g.bar") == {
        row["unit_name"]: row["on_time_rate"]
        for row in report["rows"] if row["on_time_rate"] is not None
    }
    assert chart_values(browser, "#chart-backlog g.bar") == {
        row["unit_name"]: row["in_progress_overdue"]
        for row in report["rows"] if row["in_progress"]
    }
    total = report["total"]
    assert series_total(browser, "received") == total["received"]
    assert series_total(browser, "resolved") == (
        total["resolved_early"] + total["resolved_on_time"] + total["resolved_overdue"]
    )
    shot = screenshot(browser, tmp_path / f"dashboard-{lang}.png")
    target = os.environ.get("DOSSIERFLOW_DASHBOARD_SCREENSHOT")
    if target and lang == "vi":
        shutil.copyfile(shot, target)


def test_pickers_refresh_the_figures_without_reloading(
    served: Served, browser: WebDriver, tmp_path: Path
) -> None:
    start, end = QUARTER
    open_page(browser, f"{served.base}/dashboard?from={start}&to={end}")
    browser.execute_script("window.sameDocument = true")

    before = refreshes(browser)
    Select(browser.find_element(By.ID, "unit-picker")).select_by_value(UNIT)
    wait_for_refresh(browser, before)
    unit_report = served.report(QUARTER, UNIT)
    assert cards_on_page(browser, "vi") == expected_cards(unit_report["total"])
    assert set(table_on_page(browser, "vi")) == {UNIT, ""}
    assert f"unit={UNIT}" in browser.current_url

    before = refreshes(browser)
    feb_query = {"from": str(FEBRUARY[0]), "to": str(FEBRUARY[1]), "unit": UNIT}
    as_of_before = figures_as_of(served, "/api/dashboard", feb_query)
    Select(browser.find_element(By.ID, "period-picker")).select_by_visible_text("Tháng 2/2026")
    wait_for_refresh(browser, before)
    check_as_of_line(
        browser, "vi", as_of_before, figures_as_of(served, "/api/dashboard", feb_query)
    )
    feb_report = served.report(FEBRUARY, UNIT)
    assert cards_on_page(browser, "vi") == expected_cards(feb_report["total"])
    period_text = browser.find_element(By.ID, "period-text").text
    assert period_text == "Từ ngày 01/02/2026 đến hết ngày 28/02/2026"
    assert browser.execute_script("return window.sameDocument") is True, "the page reloaded"
    assert console_errors(browser) == []
    screenshot(browser, tmp_path / "dashboard-unit-february.png")

    browser.refresh()  # the URL kept the choice
    assert cards_on_page(browser, "vi") == expected_cards(feb_report["total"])


def test_unit_page_lists_open_dossiers_at_risk_and_overdue(
    served: Served, browser: WebDriver, tmp_path: Path
) -> None:
    start, end = QUARTER
    query = {"from": str(start), "to": str(end)}
    as_of_before = figures_as_of(served, f"/api/units/{UNIT}/open", query)
    open_page(browser, f"{served.base}/dashboard/units/{UNIT}?from={start}&to={end}")
    assert console_errors(browser) == []
    assert browser.find_element(By.ID, "unit-title").text == "UBND phường Hạc Thành"
    check_as_of_line(
        browser, "vi", as_of_before, figures_as_of(served, f"/api/units/{UNIT}/open", query)
    )
    # the open list is read live, at the time of the request: it keeps its own time
    open_list = browser.find_element(By.ID, "open-list")
    assert "Số liệu tính đến" not in open_list.text
    assert open_list.find_elements(By.ID, "figures-as-of") == []

    unit_report = served.report(QUARTER, UNIT)
    assert cards_on_page(browser, "vi") == expected_cards(unit_report["total"])

    rows = browser.find_elements(By.CSS_SELECTOR, "#open-list tr[data-dossier]")
    listed = {r.get_attribute("data-dossier"): r.get_attribute("data-state") for r in rows}
    assert listed["LIVE-OVERDUE"] == "overdue"
    assert listed["LIVE-AT-RISK"] == "at_risk"
    assert "LIVE-LATER" not in listed
    api = served.json(f"/api/units/{UNIT}/open", **{"from": str(start), "to": str(end)})
    assert listed == {d["dossier_id"]: d["state"] for d in api["open"]}
    states = list(listed.values())
    counts = f"{states.count('overdue')} quá hạn, {states.count('at_risk')} sắp đến hạn"
    assert browser.find_element(By.ID, "open-counts").text == counts
    at_risk_row = next(r for r in rows if r.get_attribute("data-dossier") == "LIVE-AT-RISK")
    assert "Sắp đến hạn" in at_risk_row.text
    screenshot(browser, tmp_path / "unit.png")

    before = refreshes(browser)
    browser.execute_script("window.sameDocument = true")
    Select(browser.find_element(By.ID, "unit-picker")).select_by_value("X-01")
    wait_for_refresh(browser, before)
    assert browser.find_element(By.ID, "unit-title").text == "UBND xã Đông Tiến"
    assert "/dashboard/units/X-01" in browser.current_url
    assert browser.execute_script("return window.sameDocument") is True
    assert console_errors(browser) == []


def test_unit_page_names_the_department_whose_open_step_delays_an_overdue_dossier(
    served: Served, browser: WebDriver, tmp_path: Path
) -> None:
    today = datetime.now(LOCAL).date()
    period = (today.replace(day=1), today + timedelta(days=1))  # this month so far
    query = {"from": str(period[0]), "to": str(period[1])}
    open_page(browser, f"{served.base}/dashboard/units/{UNIT}?{urllib.parse.urlencode(query)}")
    assert console_errors(browser) == []
    row = browser.find_element(By.CSS_SELECTOR, '#delayed-list tr[data-dossier="LIVE-STEP"]')
    assert row.get_attribute("class") == "in-progress"
    assert row.find_element(By.CSS_SELECTOR, "td.caused-by").text == "Sở Tư pháp"
    assert "Đang giải quyết" in row.text
    overdue_without_steps = browser.find_element(
        By.CSS_SELECTOR, '#delayed-list tr[data-dossier="LIVE-OVERDUE"] td.caused-by'
    )
    assert overdue_without_steps.text == "Không bước nào quá hạn"
    screenshot(browser, tmp_path / "unit-delayed.png")
    delayed = served.json(f"/api/units/{UNIT}/open", **query)["delayed"]
    listed = {d["dossier_id"]: (d["resolved_at"], d["delay_caused_by"]) for d in delayed}
    assert listed["LIVE-STEP"] == (None, [STEP_DEPARTMENT])
    assert listed["LIVE-OVERDUE"] == (None, [])
    rows = {r["unit_code"]: r for r in served.report(period)["rows"]}
    assert rows[STEP_DEPARTMENT]["in_progress_overdue_caused"] == 1
    assert rows[UNIT]["in_progress_overdue"] >= 2


def test_a_bad_period_is_explained_in_the_page(served: Served, browser: WebDriver) -> None:
    open_page(browser, f"{served.base}/dashboard?from=2026-03-01&to=2026-02-01")
    assert "must be after" in browser.find_element(By.TAG_NAME, "body").text


# --- the Decision 766 page --------------------------------------------------------------


def index_on_page(driver: WebDriver, lang: str) -> dict[tuple[str, str], dict[str, str]]:
    """(group, code) -> key -> the text shown, for every row of the 766 table."""
    return {
        (row.get_attribute("data-group") or "", row.get_attribute("data-code") or ""): {
            cell.get_attribute("data-key") or "": cell.text
            for cell in row.find_elements(By.CSS_SELECTOR, "td[data-key]")
        }
        for row in driver.find_elements(By.CSS_SELECTOR, "#index-table tr[data-code]")
    }


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_the_766_page_shows_what_get_report_index_766_gives(
    served: Served, browser: WebDriver, lang: str, tmp_path: Path
) -> None:
    params = {"from": FEBRUARY[0].isoformat(), "to": FEBRUARY[1].isoformat()}
    expected = served.json("/report", **params, index="766", format="json", lang=lang)
    open_page(browser, f"{served.base}/dashboard/766?" + urllib.parse.urlencode(
        {"from": FEBRUARY[0].isoformat(), "through": "2026-02-28", "lang": lang}))
    assert console_errors(browser) == []
    shown = index_on_page(browser, lang)
    rows = [*expected["units"], *expected["groups"], expected["province"]]
    assert len(shown) == len(rows) and expected["province"]["received"] > 0
    for row in rows:
        cells = shown[row["group"], row["code"]]
        for key in ("received", "on_time", "overdue", "rank", "at_risk", "completed"):
            assert cells[key] == ("—" if row[key] is None else str(row[key])), (row["code"], key)
        score = cells["score"].replace(",", ".") if lang == "vi" else cells["score"]
        assert (None if score == "—" else float(score)) == row["score"], row["code"]
        assert cells["class"] == (row["class"] or "—")
    screenshot(browser, tmp_path / f"dashboard-766-{lang}.png")


@pytest.mark.parametrize("locale", ["en-US", "vi-VN"])
def test_day_pickers_read_and_take_dd_mm_yyyy_in_any_browser_locale(
    served: Served, tmp_path: Path, locale: str
) -> None:
    with chromium(locale) as driver:
        assert driver.execute_script("return navigator.language") == locale
        # what a native date input would show in this browser: en-US writes 1/31/2026
        native = driver.execute_script(
            "return new Date(Date.UTC(2026, 0, 31)).toLocaleDateString(undefined, "
            "{timeZone: 'UTC'})")
        assert native == {"en-US": "1/31/2026", "vi-VN": "31/1/2026"}[locale]

        start, end = QUARTER
        open_page(driver, f"{served.base}/dashboard?from={start}&to={end}")
        start_picker = driver.find_element(By.ID, "from-picker")
        end_picker = driver.find_element(By.ID, "to-picker")
        assert (start_picker.get_attribute("value"), end_picker.get_attribute("value")) == (
            "01/01/2026", "31/03/2026")
        screenshot(driver, tmp_path / f"pickers-{locale}.png")

        start_picker.clear()
        start_picker.send_keys("01/02/2026")
        end_picker.clear()
        end_picker.send_keys("28/02/2026", Keys.ENTER)
        february = "Từ ngày 01/02/2026 đến hết ngày 28/02/2026"
        WebDriverWait(driver, WAIT).until(
            lambda d: d.find_element(By.ID, "period-text").text == february)
        WebDriverWait(driver, WAIT).until(
            lambda d: "from=2026-02-01&to=2026-03-01" in d.current_url)
        assert cards_on_page(driver, "vi") == expected_cards(served.report(FEBRUARY)["total"])
        selected = Select(driver.find_element(By.ID, "period-picker")).first_selected_option
        assert selected.text == "Tháng 2/2026"  # the typed days are a preset's

        start_picker.clear()
        start_picker.send_keys("31/02/2026", Keys.ENTER)  # no such day
        assert start_picker.get_attribute("aria-invalid") == "true"
        assert driver.find_element(By.ID, "period-text").text == february
        screenshot(driver, tmp_path / f"pickers-typed-{locale}.png")
        assert console_errors(driver) == []
