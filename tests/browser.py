"""Headless Chromium through python3-selenium, started the same way for the console tests
(tests/test_console.py) and the console page-load bench (bench/console_pages.py)."""
import shutil


def chromium():
    """The Chromium binary's path, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def start_chromium(webdriver):
    """A headless Chromium at 1280x900 that keeps the browser console's messages, driven by
    selenium's `webdriver` module; None without chromium and chromedriver."""
    from selenium.webdriver.chrome.service import Service
    if not chromium() or not shutil.which("chromedriver"):
        return None
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,900", "--disable-extensions", "--no-first-run"):
        options.add_argument(arg)
    options.binary_location = chromium()
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.implicitly_wait(0)
    return driver
