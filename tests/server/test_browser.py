"""The web page in a real browser: uvicorn on 127.0.0.1 (a free port, in a thread), headless Chromium
driven by selenium + chromedriver. Uploads a photo, waits for the cutout, checks the download.

Needs Debian's chromium and chromium-driver and selenium (``bash scripts/install_browser.sh``);
skips with that reason when they are absent.
"""

from __future__ import annotations

import io
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from server_helpers import API_KEY
from server_helpers import live_server as start_live_server
from server_helpers import horse_path, served_model  # noqa: F401  (pytest fixtures)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
INSTALL_HINT = "run 'bash scripts/install_browser.sh' (Debian chromium + chromium-driver, selenium) to enable it"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser_tools():
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip(f"headless Chromium or chromedriver is absent; {INSTALL_HINT}")
    pytest.importorskip("selenium", reason=f"selenium is not installed; {INSTALL_HINT}")
    return CHROMIUM, CHROMEDRIVER


@pytest.fixture(scope="module")
def live_server(browser_tools, served_model):
    """The server ``serve`` runs (uvicorn + the protocol guard) on 127.0.0.1; yields its base URL."""
    from RMBG.server.settings import ServerSettings

    with start_live_server(ServerSettings(api_keys=(API_KEY,))) as address:
        yield f"http://{address}"


@pytest.fixture(scope="module")
def driver(browser_tools, tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, chromedriver = browser_tools
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    profile = tmp_path_factory.mktemp("chromium-profile")
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1200,900"):
        options.add_argument(argument)
    downloads = tmp_path_factory.mktemp("downloads")
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False,
                                              "download.directory_upgrade": True, "safebrowsing.enabled": False})
    log_file = tmp_path_factory.mktemp("chromedriver") / "chromedriver.log"
    browser = webdriver.Chrome(service=Service(executable_path=chromedriver, log_output=str(log_file)), options=options)
    browser.set_page_load_timeout(60)
    browser.set_script_timeout(60)
    browser.downloads = downloads
    yield browser
    browser.quit()


def test_upload_compare_and_download_in_chromium(live_server, driver, horse_path: Path, tmp_path: Path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, 60, poll_frequency=0.2)
    driver.get(live_server + "/")
    assert API_KEY not in driver.page_source

    # A wrong key is refused and the page asks again.
    wait.until(ec.visibility_of_element_located((By.ID, "api-key"))).send_keys("not-the-key")
    driver.find_element(By.ID, "key-submit").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "key-error"), "Invalid API Key"))
    assert driver.execute_script("return sessionStorage.getItem('rmbg.apiKey')") is None

    # The right key opens the app; the key lives in sessionStorage only.
    driver.find_element(By.ID, "api-key").send_keys(API_KEY)
    driver.find_element(By.ID, "key-submit").click()
    wait.until(ec.visibility_of_element_located((By.ID, "drop-zone")))
    assert driver.execute_script("return sessionStorage.getItem('rmbg.apiKey')") == API_KEY
    models = [o.get_attribute("value") for o in driver.find_elements(By.CSS_SELECTOR, "#model option")]
    posts = [o.get_attribute("value") for o in driver.find_elements(By.CSS_SELECTOR, "#post option")]
    assert "u2netp" in models and "none" in posts

    # Choosing a photo runs the removal; wait for the cutout to appear.
    driver.find_element(By.ID, "file-input").send_keys(str(horse_path))
    WebDriverWait(driver, 120, poll_frequency=0.2).until(
        lambda d: d.execute_script("return document.body.dataset.state") in ("done", "error"))
    status = driver.find_element(By.ID, "status").text
    assert driver.execute_script("return document.body.dataset.state") == "done", status
    assert "800×590" in status
    assert driver.execute_script("const i = document.getElementById('result'); return i.complete && i.naturalWidth") == 800

    # The slider moves the before/after split.
    driver.execute_script("const s = document.getElementById('slider'); s.value = 20; s.dispatchEvent(new Event('input'));")
    assert "20%" in driver.execute_script("return document.getElementById('after-layer').style.clipPath")

    # Clicking the download link saves a PNG with a real alpha channel.
    link = driver.find_element(By.ID, "download")
    assert link.is_displayed() and link.get_attribute("download") == "horse001-no-bg.png"
    link.click()
    saved = driver.downloads / "horse001-no-bg.png"
    deadline = time.monotonic() + 30
    def complete() -> bool:  # Chromium writes a .crdownload first, then renames; the final name can appear empty first
        return saved.is_file() and saved.stat().st_size > 0 and not list(driver.downloads.glob("*.crdownload"))

    while not complete() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert saved.is_file(), f"nothing downloaded; the folder holds {sorted(p.name for p in driver.downloads.iterdir())}"
    data = saved.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    image = Image.open(io.BytesIO(data))
    assert image.mode == "RGBA" and image.size == (800, 590)
    alpha = np.asarray(image)[..., 3]
    assert alpha.min() == 0 and alpha.max() == 255

    # A failed upload (a corrupt JPEG: the server answers 400) clears the previous cutout and its link.
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0" + b"not really a jpeg" * 10)
    driver.find_element(By.ID, "file-input").send_keys(str(broken))
    WebDriverWait(driver, 60, poll_frequency=0.2).until(lambda d: d.execute_script("return document.body.dataset.state") == "error")
    assert "error reading the image" in driver.find_element(By.ID, "status").text
    assert not driver.find_element(By.ID, "download").is_displayed()
    assert driver.find_element(By.ID, "download").get_attribute("href") is None
    assert not driver.find_element(By.ID, "compare").is_displayed()
    assert driver.execute_script("return document.getElementById('result').getAttribute('src')") is None
