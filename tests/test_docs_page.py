"""/api/docs/ in a real Chromium: ReDoc from this server renders the contract, nothing leaves the origin."""
import os

import pytest

CHROMIUM = "/usr/bin/chromium"
if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium): no browser test", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")

WATCH_CSP = ("window.__cspViolations = [];"
             "document.addEventListener('securitypolicyviolation', e => window.__cspViolations.push("
             "e.violatedDirective + ' ' + e.blockedURI));")
WAIT_MS = 20_000  # bounded: a blank page fails in seconds, not at pytest's timeout


def test_the_docs_page_renders_offline_under_its_policy(live_server):
    requested, errors = [], []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            # No route out: anything not from the origin is aborted (and recorded), as on an offline network.
            context = browser.new_context()
            context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(live_server)
                          else route.abort())
            page = context.new_page()
            page.add_init_script(WATCH_CSP)
            page.on("request", lambda request: requested.append(request.url))
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))

            page.goto(f"{live_server}/api/docs/", wait_until="load", timeout=WAIT_MS)
            page.locator("h1", has_text="Waypoint").first.wait_for(timeout=WAIT_MS)
            # Every operation is in the menu (drawn, though the narrow window folds the menu away).
            page.get_by_text("Write the caller's check-in for one local day").first.wait_for(
                state="attached", timeout=WAIT_MS)
            heading = page.locator("h1").first.inner_text()
            violations = page.evaluate("window.__cspViolations")
        finally:
            browser.close()

    assert heading.startswith("Waypoint")
    assert [url for url in requested if not url.startswith((live_server, "blob:", "data:"))] == []
    assert violations == []
    assert errors == []
