"""Playwright in Debian's Chromium (Playwright cannot download its own browser here)."""
import contextlib
import os
import socket
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]


@contextlib.contextmanager
def chromium_page():
    """Yield a fresh page in headless Chromium."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            yield context.new_page()
        finally:
            browser.close()


def free_port() -> int:
    """Return a free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def watch_csp(page) -> list[str]:
    """Return a list that fills with what Chromium reports as refused by the Content Security Policy
    (or as a script error) on any page the tab opens from now on."""
    refused = []
    page.on("console", lambda message: refused.append(f"{page.url}: {message.text}")
            if "Content Security Policy" in message.text else None)
    page.on("pageerror", lambda error: refused.append(f"{page.url}: script error {error}"))
    return refused


SCREENSHOTS = Path(os.environ.get("BATCHSITE_SCREENSHOTS") or Path(__file__).resolve().parent.parent / "var" / "screenshots")


def screenshot(page, name: str) -> Path:
    """Keep a full-page screenshot for review under var/screenshots/ (or $BATCHSITE_SCREENSHOTS)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
