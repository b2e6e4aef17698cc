"""The pages in a real browser: Debian's headless Chromium driven by Selenium, against
the live server and real workers on Redis. Screenshots go to test-artifacts/browser/."""

import csv
import io
import shutil
from collections.abc import Iterator

import pytest
from django.contrib.auth import get_user_model
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from taskhub.models import Image, OutboxMessage, Report, SentEmail, TaskFailure
from tests.dead_letters import dead_letter
from tests.image_files import image_bytes
from tests.internals import internals_in
from tests.orders import DAY, make_orders
from tests.workers import ROOT, emails_sent, publishing_to, redis_database, running_worker
from tools.workers import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = ROOT / "test-artifacts" / "browser"
PASSWORD = "correct horse 42"
FULL_BAR = """const bar = document.getElementById("progress");
return bar.firstElementChild.getBoundingClientRect().width >= bar.clientWidth;"""


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and chromedriver):
        pytest.skip("chromium and chromium-driver are missing: make test installs them")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--window-size=1200,900")
    driver = webdriver.Chrome(options=options, service=Service(chromedriver))
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


@pytest.fixture
def site(live_server, settings, tmp_path, browser) -> Iterator[str]:
    """The live server, publishing to Redis, with a worker on every queue."""
    settings.ROOT_URLCONF = "tests.urls_with_media"
    browser.delete_all_cookies()
    with (
        redis_database(11) as url,
        publishing_to(settings, url, tmp_path),
        running_worker("high,normal,low", url, tmp_path, concurrency=2),
    ):
        yield live_server.url


def screenshot(browser: WebDriver, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / f"{name}.png"))


def until(browser: WebDriver, condition, timeout: float = 30):
    return WebDriverWait(browser, timeout, poll_frequency=0.1).until(condition)


def log_in(browser: WebDriver, site: str, username: str) -> None:
    browser.get(f"{site}/accounts/login/")
    browser.find_element(By.NAME, "username").send_keys(username)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.ID, "login").click()
    until(browser, lambda b: "/accounts/login/" not in b.current_url)


def log_out(browser: WebDriver, site: str) -> None:
    """Log out with the page's button, and wait for its redirect home: a page asked for
    before it lands would be replaced by it."""
    browser.get(f"{site}/accounts/logout/")
    browser.find_element(By.ID, "logout").click()
    until(browser, lambda b: b.current_url == f"{site}/")


def fill_signup(browser: WebDriver, **fields: str) -> None:
    for name, value in fields.items():
        field = browser.find_element(By.NAME, name)
        field.clear()
        field.send_keys(value)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()


def test_sign_up_see_the_confirmation_and_get_the_welcome_email(browser, site, tmp_path):
    browser.get(f"{site}/")
    sign_up = browser.find_element(By.CSS_SELECTOR, "header.site a[href='/accounts/signup/']")
    log_in_link = browser.find_element(By.CSS_SELECTOR, "header.site a[href='/accounts/login/']")
    assert sign_up.location["x"] > browser.get_window_size()["width"] / 2, "on the right"
    assert sign_up.location["x"] < log_in_link.location["x"], "the demo's link, then taskhub's"
    sign_up.click()
    fill_signup(browser, username="marie", email="marie@example.com", password1=PASSWORD,
                password2="not the same")  # fmt: skip
    error = until(browser, lambda b: b.find_elements(By.CSS_SELECTOR, ".errorlist li"))[0]
    assert "didn" in error.text and "match" in error.text
    assert error.value_of_css_property("color") == "rgba(207, 34, 46, 1)", "errors look like errors"
    rules = browser.find_element(By.CSS_SELECTOR, ".helptext")
    assert rules.value_of_css_property("color") != error.value_of_css_property("color")
    screenshot(browser, "1-signup-errors")
    fill_signup(browser, password1=PASSWORD, password2=PASSWORD)
    confirmation = until(browser, lambda b: b.find_elements(By.ID, "confirmation"))
    assert confirmation[0].text == "Thanks for signing up"
    assert "marie" in browser.find_element(By.CSS_SELECTOR, "header.site").text, "logged in"
    screenshot(browser, "1-signup-done")
    wait_for(lambda: emails_sent(tmp_path) == 1, 30, "the welcome email from the worker")
    sent = SentEmail.objects.get()
    assert (sent.kind, sent.recipient, sent.status) == ("welcome", "marie@example.com", "sent")


def test_upload_a_photo_and_its_thumbnails_appear_without_reloading(browser, site, tmp_path):
    get_user_model().objects.create_user("ada", "ada@example.com", PASSWORD)
    log_in(browser, site, "ada")
    browser.find_element(By.CSS_SELECTOR, "header.site a[href='/gallery/']").click()
    until(browser, lambda b: b.find_element(By.ID, "empty").is_displayed())
    screenshot(browser, "2-gallery-empty")
    browser.execute_script("window.sameDocument = true")
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(image_bytes(1600, 1200))
    browser.find_element(By.NAME, "file").send_keys(str(photo))
    browser.find_element(By.CSS_SELECTOR, "#upload button").click()

    def loaded_thumbnails(b: WebDriver) -> list[int] | None:
        widths = b.execute_script(
            "return [...document.querySelectorAll('img.thumbnail')]"
            ".filter(i => i.complete && i.naturalWidth > 0).map(i => i.naturalWidth)"
        )
        return widths or None

    assert until(browser, loaded_thumbnails) == [256], "one thumbnail per card, not three"
    assert browser.execute_script("return window.sameDocument") is True, "no reload"
    until(browser, lambda b: b.find_element(By.ID, "upload-status").text == "")
    assert not browser.find_element(By.ID, "empty").is_displayed()
    screenshot(browser, "2-gallery")


def test_request_a_report_watch_it_reach_100_and_download_it(browser, site):
    get_user_model().objects.create_user("ada", "ada@example.com", PASSWORD)
    make_orders(30_000)
    log_in(browser, site, "ada")
    browser.get(f"{site}/reports/")
    Select(browser.find_element(By.NAME, "kind")).select_by_value("orders")
    for name in ("start", "end"):
        field = browser.find_element(By.NAME, name)
        browser.execute_script("arguments[0].value = arguments[1]", field, DAY.isoformat())
    browser.find_element(By.CSS_SELECTOR, "#request-report button").click()
    until(browser, lambda b: b.find_elements(By.ID, "progress"))
    seen: list[int] = []

    def finished(b: WebDriver) -> bool:
        seen.append(int(b.find_element(By.ID, "progress").get_attribute("aria-valuenow")))
        return seen[-1] == 100

    until(browser, finished, timeout=60)
    assert browser.find_element(By.ID, "status").text == "Done"
    until(browser, lambda b: b.execute_script(FULL_BAR), timeout=5)
    assert seen == sorted(seen), f"the bar only moves forward: {seen}"
    download = browser.find_element(By.ID, "download")
    assert download.is_displayed()
    screenshot(browser, "3-report-done")
    text = browser.execute_script(
        "return fetch(arguments[0], {credentials: 'same-origin'}).then(r => r.text())",
        download.get_attribute("href"),
    )
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["number", "created_at", "customer", "email", "amount"]
    assert len(rows) == 30_001
    assert Report.objects.get().row_count == 30_000


def test_the_status_page_shows_the_queues_and_their_workers(browser, site):
    get_user_model().objects.create_user("grace", "g@example.com", PASSWORD, is_staff=True)
    log_in(browser, site, "grace")
    browser.get(f"{site}/taskhub/")
    rows = until(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#queues tr[data-queue]"))
    assert [row.get_attribute("data-queue") for row in rows] == ["high", "normal", "low"]
    for row in rows:
        assert "test-" in row.text, f"a worker consumes {row.get_attribute('data-queue')}"
    assert browser.find_element(By.ID, "verdict").text == "healthy"
    assert browser.find_element(By.LINK_TEXT, "Flower").get_attribute("href")
    screenshot(browser, "4-status")


@pytest.fixture
def site_without_workers(live_server, settings, tmp_path, browser) -> Iterator[tuple[str, str]]:
    """The live server publishing to Redis (its URL too), with no worker: work waits."""
    settings.ROOT_URLCONF = "tests.urls_with_media"
    browser.delete_all_cookies()
    with redis_database(11) as url, publishing_to(settings, url, tmp_path):
        yield live_server.url, url


def test_a_queued_report_is_cancelled_from_its_page_and_never_made(
    browser, site_without_workers, tmp_path
):
    site, broker = site_without_workers
    get_user_model().objects.create_user("ada", "ada@example.com", PASSWORD)
    make_orders(100)
    log_in(browser, site, "ada")
    browser.get(f"{site}/reports/")
    assert browser.find_element(By.NAME, "end").get_attribute("value"), "dates filled in"
    for name in ("start", "end"):
        field = browser.find_element(By.NAME, name)
        browser.execute_script("arguments[0].value = arguments[1]", field, DAY.isoformat())
    browser.find_element(By.CSS_SELECTOR, "#request-report button").click()
    cancel = until(
        browser, lambda b: [e for e in b.find_elements(By.ID, "cancel") if e.is_displayed()]
    )
    assert browser.find_element(By.ID, "status").text == "Pending"
    cancel[0].click()
    until(browser, lambda b: b.find_element(By.ID, "status").text == "Cancelled")
    assert browser.find_element(By.ID, "error").text.startswith("Cancelled by you, ")
    browser.find_element(By.ID, "back").click()
    until(browser, lambda b: b.current_url.endswith("/reports/"))
    browser.back()
    screenshot(browser, "3-report-cancelled")
    url = browser.current_url
    with running_worker("low", broker, tmp_path) as worker:
        wait_for(lambda: "generate_report" in worker.log() and " succeeded in " in worker.log(),
                 30, "the worker to take the cancelled report")  # fmt: skip
    report = Report.objects.get()
    assert (report.status, report.file.name) == ("cancelled", "")
    browser.get(url)
    assert browser.find_element(By.ID, "status").text == "Cancelled"
    assert not browser.find_element(By.ID, "download").is_displayed()


def test_staff_requeue_a_dead_lettered_email_and_see_it_sent(browser, site, tmp_path):
    get_user_model().objects.create_user("grace", "g@example.com", PASSWORD, is_staff=True)
    get_user_model().objects.create_user("ada", "ada@example.com", PASSWORD)
    dead_letter("taskhub.welcome", ["ada"])
    log_in(browser, site, "grace")
    browser.find_element(By.ID, "nav-status").click()
    row = until(
        browser,
        lambda b: b.find_elements(By.CSS_SELECTOR, '#dead-letters tr[data-task-id="dead-1"]'),
    )
    row[0].find_element(By.TAG_NAME, "button").click()
    notice = until(browser, lambda b: b.find_elements(By.CSS_SELECTOR, ".messages li.success"))
    assert notice[0].text == "Welcome email (user ada) is queued again."
    screenshot(browser, "5-status-requeue-notice")
    wait_for(lambda: emails_sent(tmp_path) == 1, 30, "the requeued welcome email")
    assert SentEmail.objects.get().recipient == "ada@example.com"
    browser.refresh()
    row = browser.find_element(By.CSS_SELECTOR, '#dead-letters tr[data-task-id="dead-1"]')
    assert "requeued by grace" in row.text and not row.find_elements(By.TAG_NAME, "button")
    assert (
        "requeue dead letter taskhub.welcome[dead-1]" in browser.find_element(By.ID, "actions").text
    )
    screenshot(browser, "5-status-requeued")


PHONE = (390, 844)


def no_internals(browser: WebDriver) -> str:
    text = browser.find_element(By.TAG_NAME, "body").text
    assert internals_in(text) == [], f"{browser.current_url} shows internals: {text[:2000]}"
    return text


def at_both_widths(browser: WebDriver, site: str, pages: dict[str, str]) -> dict[str, str]:
    """Each page at desktop and phone width: no sideways scrolling, no internals, a
    screenshot of each (``7-desktop-<name>``, ``7-phone-<name>``); the text of each."""
    texts = {}
    try:
        for width, height, prefix in [(1200, 900, "7-desktop"), (*PHONE, "7-phone")]:
            browser.set_window_size(width, height)
            for name, path in pages.items():
                browser.get(f"{site}{path}")
                texts[name] = no_internals(browser)
                overflow = browser.execute_script(
                    "return document.documentElement.scrollWidth - window.innerWidth"
                )
                assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at {width}px"
                screenshot(browser, f"{prefix}-{name}")
    finally:
        browser.set_window_size(1200, 900)
    return texts


def in_card(browser: WebDriver, status: str, act):
    """``act(card)`` on the first gallery card of ``status``, once there is one; again on
    the new card if the gallery redrew it meanwhile (it redraws every card while an image
    is pending or running). What ``act`` answers."""

    def attempt(b: WebDriver):
        cards = b.find_elements(By.CSS_SELECTOR, f".card[data-status={status}]")
        if not cards:
            return None
        try:
            return (act(cards[0]),)
        except StaleElementReferenceException:
            return None

    return until(browser, attempt)[0]


def test_a_broken_upload_and_a_failed_image_read_in_words_and_can_be_retried_and_deleted(
    browser, site, tmp_path
):
    get_user_model().objects.create_user("ada", "ada@example.com", PASSWORD)
    log_in(browser, site, "ada")
    browser.get(f"{site}/gallery/")
    notes = tmp_path / ("notes-" + "x" * 240 + ".csv")
    notes.write_text("name,amount\n")
    browser.find_element(By.NAME, "file").send_keys(str(notes))
    browser.find_element(By.CSS_SELECTOR, "#upload button").click()
    status = browser.find_element(By.ID, "upload-status")
    until(
        browser,
        lambda b: status.text == "This file is not an image, or not in a format we can read.",
    )
    browser.find_element(By.NAME, "file").send_keys(str(notes))
    assert status.text == "", "choosing the next file clears the old error"
    truncated = tmp_path / ("photo-" + "y" * 240 + ".jpg")  # 250: the most a file system takes
    truncated.write_bytes(image_bytes(800, 600)[:2000])
    browser.find_element(By.NAME, "file").send_keys(str(truncated))
    browser.find_element(By.CSS_SELECTOR, "#upload button").click()
    text, height = in_card(browser, "failed", lambda card: (card.text, card.size["height"]))
    assert "damaged or incomplete" in text
    assert height < 450, "a long file name does not make a tall card"
    no_internals(browser)
    screenshot(browser, "6-gallery-failed")
    in_card(
        browser, "failed", lambda card: card.find_element(By.CSS_SELECTOR, "button.retry").click()
    )
    thumbnail_runs = OutboxMessage.objects.filter(task_name="taskhub.make_thumbnails")
    wait_for(lambda: thumbnail_runs.filter(started_at__isnull=False).count() == 2, 30, "a retry")
    wait_for(lambda: Image.objects.get().status == "failed", 30, "the retry to fail again")
    until(browser, lambda b: b.find_elements(By.CSS_SELECTOR, ".card[data-status=failed]"))
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(image_bytes(1600, 1200))
    browser.find_element(By.NAME, "file").send_keys(str(photo))
    browser.find_element(By.CSS_SELECTOR, "#upload button").click()
    sizes = in_card(browser, "done", lambda card: [
        a.text.replace("\N{MULTIPLICATION SIGN}", "x")
        for a in card.find_elements(By.CSS_SELECTOR, ".sizes a")
    ])  # fmt: skip
    assert sizes == ["128x96", "256x192", "512x384", "original"]
    screenshot(browser, "6-gallery-sizes")
    in_card(
        browser, "failed", lambda card: card.find_element(By.CSS_SELECTOR, "button.delete").click()
    )
    browser.switch_to.alert.accept()
    until(browser, lambda b: len(b.find_elements(By.CSS_SELECTOR, ".card")) == 1)
    assert Image.objects.filter(deleted_at__isnull=True).count() == 1


def test_every_page_fits_a_phone_and_shows_no_python_internals(browser, site):
    User = get_user_model()
    User.objects.create_user("grace", "g@example.com", PASSWORD, is_staff=True)
    User.objects.create_user("ada", "ada@example.com", PASSWORD)
    report = Report.objects.create(
        kind="sales_by_day", params={"start": "2026-01-01", "end": "2026-01-31"},
        status="done", row_count=1_000_000,
    )  # fmt: skip
    TaskFailure.objects.create(
        task_id="t-1", task_name="taskhub.generate_report", args=[report.pk],
        exception="OperationalError", message="the warehouse database is read-only today",
    )  # fmt: skip
    log_in(browser, site, "ada")
    browser.get(f"{site}/taskhub/")
    assert "This page is for staff only" in no_internals(browser), "a styled 403, in words"
    assert browser.find_element(By.LINK_TEXT, "Go to the home page")
    log_out(browser, site)
    log_in(browser, site, "grace")
    pages = {
        "home": "/", "gallery": "/gallery/", "reports": "/reports/",
        "report": f"/reports/{report.pk}/", "status": "/taskhub/", "not-found": "/no-such-page/",
        "logout": "/accounts/logout/",
    }  # fmt: skip
    browser.get(f"{site}/")
    assert "Sign up" not in no_internals(browser), "not offered to a signed-in user"
    icon = "return fetch(document.querySelector('link[rel=icon]').href).then(r => r.status)"
    assert browser.execute_script(icon) == 200, "a favicon of its own: no /favicon.ico 404"
    texts = at_both_widths(browser, site, pages)
    assert "1,000,000 rows" in texts["report"] and "Sales by day" in texts["report"]
    assert f"Report: report {report.pk}: Sales by day" in texts["status"], "in words"
    assert "the warehouse database is read-only today" in texts["status"]
    log_out(browser, site)
    at_both_widths(browser, site, {"login": "/accounts/login/", "signup": "/accounts/signup/"})
    browser.get(f"{site}/accounts/login/")
    assert browser.find_element(By.LINK_TEXT, "Sign up"), "the way to sign up from logging in"
