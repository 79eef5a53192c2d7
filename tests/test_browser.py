"""End-to-end in a real browser: Playwright (from PyPI) driving Debian's Chromium (/usr/bin/chromium).

Types a claim into the chat page, sees streamed progress, then the verdict with clickable arXiv links,
and saves a screenshot (tests/artifacts/web-chat.png; copied to docs/img/web-chat.png when RETEST_UPDATE_SCREENSHOTS=1).
Setup: `pip install playwright` and `apt-get install -y chromium` (Playwright's own browser download
is not used)."""
from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from datetime import date
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync"]

if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is missing: pip install playwright")
uvicorn = pytest.importorskip("uvicorn")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from agent.configuration import Settings
    from retest.web import create_app

    home = tmp_path_factory.mktemp("home")
    settings = Settings(home=home, source="snapshot", as_of=date(2026, 11, 26), _env_file=None)
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(settings, thread="browser"), host="127.0.0.1", port=port,
                                        log_level="warning"))
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    deadline = time.time() + 30
    while not srv.started:
        assert time.time() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    t.join(timeout=10)


def test_chat_in_the_browser(server, tmp_path):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("dialog", lambda d: (errors.append("dialog: " + d.message), d.dismiss()))
            page.goto(server + "/")
            page.fill("#message", "LIMA: 1,000 curated examples suffice for alignment <script>alert(1)</script> (2023)")
            page.click("#send")
            # progress streams in over SSE before the verdict arrives
            page.wait_for_selector(".msg.progress li", timeout=120_000)
            assert page.locator(".msg.progress li").first.inner_text().strip()
            page.wait_for_selector(".msg.reply .verdict", timeout=240_000)
            verdict = page.locator(".msg.reply .verdict").first.inner_text()
            assert verdict in {"holds", "weakened", "superseded", "unresolved"}
            steps = page.locator(".msg.progress li").all_inner_texts()
            assert any("search" in s for s in steps) and any("verdict" in s for s in steps)
            links = page.locator('.msg.reply a[href^="https://arxiv.org/abs/"]')
            assert links.count() >= 1
            href = links.first.get_attribute("href")
            assert href.removeprefix("https://arxiv.org/abs/")[:4].isdigit()
            # the user's text is shown as text, never run
            assert page.locator(".msg.reply script").count() == 0
            assert "<script>alert(1)</script>" in page.locator(".msg.reply .claim-line").first.inner_text()
            page.wait_for_selector("#send:not([disabled])")  # (the page's CSP forbids eval)
            page.fill("#message", "/why 1")
            page.click("#send")
            page.locator(".msg.reply").nth(1).wait_for(timeout=60_000)
            assert page.locator('.msg.reply').nth(1).locator('a[href^="https://arxiv.org/abs/"]').count() >= 1
            page.wait_for_selector("#send:not([disabled])")  # (the page's CSP forbids eval)
            # a viewport as tall as the page, so the sticky message box sits at the bottom of the shot
            height = int(page.locator("body").bounding_box()["height"]) + 1
            page.set_viewport_size({"width": 1100, "height": min(max(height, 800), 4000)})
            shot = ROOT / "tests" / "artifacts" / "web-chat.png"
            shot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shot), full_page=True)
            if os.environ.get("RETEST_UPDATE_SCREENSHOTS"):  # refresh the docs' picture on request only
                docs = ROOT / "docs" / "img" / "web-chat.png"
                docs.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(shot, docs)
            # the claims page lists the verdict with its links
            page.goto(server + "/claims")
            assert page.locator('a[href^="https://arxiv.org/abs/"]').count() >= 2
            page.screenshot(path=str(shot.with_name("web-claims.png")), full_page=True)
            assert not errors, errors
        finally:
            browser.close()
