"""The workspace in a real browser: Debian's headless chromium, driven by Selenium, against the
workspace served by uvicorn over a store filled by a small simulated run.

Officers and supervisors work in separate browser sessions (separate profiles, so separate
cookies), as two people at two desks would.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from selenium.common.exceptions import (
    NoSuchElementException,
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from alerts.store import AlertStore
from tests.web.webkit import PASSWORDS, Browsers

pytestmark = [pytest.mark.browser, pytest.mark.slow]
WAIT = 20  # generous: CI machines are shared
SETTLING = (StaleElementReferenceException, NoSuchElementException)  # mid page load


def settling(condition: Callable[[Any], object]) -> Callable[[Any], object]:
    """``condition``, false while the page is being replaced: chromedriver reports an element
    read during a navigation either as stale or, at times, as an "unhandled inspector error"
    (``Node with given id does not belong to the document``), which selenium raises as a plain
    WebDriverException."""

    def check(driver: Any) -> object:
        try:
            return condition(driver)
        except WebDriverException as exc:
            if "does not belong to the document" in str(exc.msg):
                return False
            raise

    return check


class Desk:
    """One person's browser session on the workspace."""

    def __init__(self, driver: Any, base: str) -> None:
        self.driver = driver
        self.base = base

    def go(self, path: str) -> None:
        self.driver.get(self.base + path)

    def login(self, user: str) -> None:
        self.go("/login")
        self.type("username", user)
        self.type("password", PASSWORDS[user][2])
        self.click("login")
        self.wait(lambda d: d.current_url.startswith(self.base + "/inbox"))
        assert PASSWORDS[user][1] in self.text("whoami")

    def el(self, element_id: str) -> Any:
        return self.driver.find_element(By.ID, element_id)

    def all(self, css: str) -> list[Any]:
        return list(self.driver.find_elements(By.CSS_SELECTOR, css))

    def text(self, element_id: str) -> str:
        return str(self.el(element_id).text)

    def type(self, element_id: str, text: str) -> None:
        field = self.el(element_id)
        field.clear()
        field.send_keys(text)

    def choose(self, element_id: str, value: str) -> None:
        Select(self.el(element_id)).select_by_value(value)

    def click(self, element_id: str) -> None:
        self.el(element_id).click()

    def wait(self, condition: Callable[[Any], object]) -> None:
        WebDriverWait(self.driver, WAIT, ignored_exceptions=SETTLING).until(settling(condition))

    def status(self) -> str:
        return self.text("status")

    def flash(self) -> str:
        found = self.all("#flash")
        return str(found[0].text) if found else ""

    def history_actors(self) -> list[str]:
        return [str(cell.text) for cell in self.all("#history td.actor")]


@pytest.fixture(scope="module")
def desks(browsers: Browsers, live_url: str) -> dict[str, Desk]:
    """One signed-in browser per person, kept for the module (chromium starts are the slow part)."""
    return {}


@pytest.fixture
def desk(desks: dict[str, Desk], browsers: Browsers, live_url: str) -> Callable[[str], Desk]:
    def open_desk(user: str) -> Desk:
        if user in desks:
            desks[user].go("/inbox")
            return desks[user]
        opened = Desk(browsers.new(), live_url)
        opened.login(user)
        desks[user] = opened
        return opened

    return open_desk


def _alert_ids(store: AlertStore, **filters: str) -> list[str]:
    return [
        s.alert.alert_id
        for s in store.list_alerts(limit=1000)
        if all(getattr(s.alert, k) == v for k, v in filters.items()) and s.status == "open"
    ]


def test_officer_filters_the_inbox_opens_an_alert_and_works_it(
    desk: Callable[[str], Desk], sim_store: AlertStore
) -> None:
    officer = desk("li.wei")
    everything = int(officer.text("total").split()[0])
    assert everything == sim_store.count()

    officer.choose("f-category", "large_transfer")
    officer.click("apply")
    officer.wait(lambda d: "category=large_transfer" in d.current_url)
    rows = officer.all("tr[data-alert-id]")
    expected = [
        s for s in sim_store.list_alerts(limit=1000) if s.alert.category == "large_transfer"
    ]
    assert len(rows) == len(expected) > 0
    assert f"({len(expected)})" in Select(officer.el("f-category")).first_selected_option.text
    assert all("large transfer" in row.text for row in rows)

    alert_id = rows[0].get_attribute("data-alert-id")
    rows[0].find_element(By.CSS_SELECTOR, "a.open-alert").click()
    officer.wait(lambda d: "/alerts/" in d.current_url)
    evidence = officer.all("#evidence tr.evidence-row")
    stored = sim_store.get(alert_id)
    assert len(evidence) == len(stored.alert.event_ids) > 0
    assert stored.alert.event_ids[0] in evidence[0].text
    assert officer.text("rule") == stored.alert.rule_id
    assert stored.alert.pack_version in officer.text("pack")
    assert officer.all("#explanation tr"), "the values and thresholds that fired it"

    officer.click("ack")
    officer.wait(lambda d: "acknowledged" in officer.status())
    officer.choose("assignee-select", "li.wei")
    officer.click("assign")
    officer.wait(lambda d: officer.text("assignee") == "li.wei")
    officer.type("comment-text", "called the branch: the customer confirms the transfer")
    officer.click("comment")
    officer.wait(lambda d: "called the branch" in officer.text("history"))
    officer.choose("outcome", "confirmed")
    officer.type("resolve-comment", "genuine large transfer, reported")
    officer.click("resolve")
    officer.wait(lambda d: "confirmed" in officer.status())

    assert sim_store.get(alert_id).status == "resolved"
    actors = {e.actor for e in sim_store.history(alert_id) if e.action != "stored"}
    assert actors == {"li.wei"}
    assert set(officer.history_actors()) == {"riskmon", "li.wei"}


def test_a_false_positive_close_of_a_high_alert_waits_for_a_second_person(
    desk: Callable[[str], Desk], sim_store: AlertStore
) -> None:
    first, second = _alert_ids(sim_store, severity="high")[:2]
    officer = desk("wang.fang")
    officer.go(f"/alerts/{first}")
    officer.click("ack")
    officer.wait(lambda d: "acknowledged" in officer.status())
    officer.choose("outcome", "false_positive")
    officer.type("resolve-comment", "test transfer between the bank's own accounts")
    officer.click("resolve")
    officer.wait(lambda d: "pending approval" in officer.status())
    assert "wang.fang" in officer.text("pending-note")
    assert not officer.all("#approve"), "an officer is not offered the approval"

    supervisor = desk("zhang.min")  # a second browser session: another person, another desk
    supervisor.go(f"/alerts/{first}")
    assert "pending approval" in supervisor.status()
    supervisor.type("approve-comment", "checked the ledger: own accounts")
    supervisor.click("approve")
    supervisor.wait(lambda d: "false positive" in supervisor.status())
    entries = sim_store.history(first)
    assert [(e.action, e.actor) for e in entries[-2:]] == [
        ("close_requested", "wang.fang"),
        ("close_approved", "zhang.min"),
    ]

    # The supervisor asks for a false-positive close herself: she cannot approve it too.
    supervisor.go(f"/alerts/{second}")
    supervisor.click("ack")
    supervisor.wait(lambda d: "acknowledged" in supervisor.status())
    supervisor.choose("outcome", "false_positive")
    supervisor.click("resolve")
    supervisor.wait(lambda d: "pending approval" in supervisor.status())
    supervisor.click("approve")
    supervisor.wait(lambda d: "second person" in supervisor.flash())
    assert "pending approval" in supervisor.status()
    assert sim_store.get(second).status == "pending_approval"


def test_a_form_post_without_its_csrf_token_is_refused(
    desk: Callable[[str], Desk], sim_store: AlertStore
) -> None:
    alert_id = _alert_ids(sim_store)[-1]
    before = len(sim_store.history(alert_id))
    officer = desk("li.wei")
    officer.go(f"/alerts/{alert_id}")
    officer.driver.execute_script(
        "document.querySelector('#comment-form input[name=csrf_token]').remove()"
    )
    officer.type("comment-text", "this comment must not be recorded")
    officer.click("comment")
    officer.wait(lambda d: officer.all("#error-detail"))
    assert "403" in officer.driver.find_element(By.TAG_NAME, "h1").text
    assert "CSRF" in officer.text("error-detail")
    assert len(sim_store.history(alert_id)) == before


def test_new_alerts_appear_in_the_inbox_without_a_reload(
    desk: Callable[[str], Desk], sim_store: AlertStore
) -> None:
    officer = desk("li.wei")
    officer.driver.get_log("browser")  # drain what earlier tests left (the refused post's 403)
    officer.go("/inbox")
    marker = officer.driver.execute_script("return window.performance.timeOrigin")
    before = int(officer.text("total").split()[0])
    newest = sim_store.list_alerts(limit=1)[0].alert
    fresh = newest.model_copy(
        update={
            "alert_id": "f" * 32,
            "event_ids": ("E-live-1",),
            "occurred_at": newest.occurred_at + timedelta(minutes=5),
        }
    )
    sim_store.upsert(fresh)
    officer.wait(lambda d: officer.all(f'tr[data-alert-id="{"f" * 32}"]'))
    assert int(officer.text("total").split()[0]) == before + 1
    assert officer.driver.execute_script("return window.performance.timeOrigin") == marker
    assert officer.driver.execute_script("return typeof htmx") == "object"
    errors = [e for e in officer.driver.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == [], "no script errors and no Content-Security-Policy violations"


def test_a_risk_event_cannot_close_until_the_four_follow_ups_are_done(
    desk: Callable[[str], Desk], sim_store: AlertStore
) -> None:
    medium = [s for s in sim_store.list_alerts(limit=1000) if s.alert.severity == "medium"]
    confirmed = [s.alert.alert_id for s in medium if s.status == "open"][:1]
    me = sim_store.users.identity("li.wei")
    sim_store.acknowledge(confirmed[0], by=me)
    sim_store.resolve(confirmed[0], "confirmed", by=me, comment="a real case")
    officer = desk("li.wei")
    officer.go(f"/alerts/{confirmed[0]}")
    officer.click("open-event")
    officer.wait(lambda d: "/register/new" in d.current_url)
    officer.type("event-title", "Large transfer without a second review at BR004")
    officer.click("event-open")
    officer.wait(lambda d: officer.all("#event-status"))
    assert "open" in officer.text("event-status")

    officer.click("close-event")
    officer.wait(lambda d: officer.flash())
    assert "open" in officer.text("event-status")
    assert officer.flash(), "closing with follow-ups missing is refused, with the reason"

    officer.type("root-cause-text", "The teller's limit was not enforced at the counter")
    officer.click("root-cause-save")
    officer.wait(lambda d: officer.all("#root-cause-recorded"))
    officer.type("people-text", "Teller BR004-T03 warned; branch manager briefed")
    officer.click("people-save")
    officer.wait(lambda d: officer.all("#people-recorded"))
    officer.type("action-description", "Enforce the counter limit in the core system")
    officer.click("action-add")
    officer.wait(lambda d: officer.all("#actions tr.action-row"))

    officer.click("close-event")  # staff education still missing, action not done
    officer.wait(lambda d: officer.flash())
    assert "open" in officer.text("event-status")

    officer.type("education-text", "All BR004 tellers retrained on transfer limits")
    officer.click("education-save")
    officer.wait(lambda d: officer.all("#education-recorded"))
    row = officer.all("#actions tr.action-row")[0]
    Select(row.find_element(By.TAG_NAME, "select")).select_by_value("done")
    row.find_element(By.CSS_SELECTOR, "button.action-status-save").click()
    officer.wait(lambda d: not officer.all("#missing"))
    officer.click("close-event")
    officer.wait(lambda d: "closed" in officer.text("event-status"))
    officer.go("/register")
    assert "Large transfer without a second review" in officer.text("events")
