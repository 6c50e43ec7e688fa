"""The documentation site: `mkdocs build --strict` passes (broken links, missing pages and pages left
out of the nav fail it), its Reference pages are generated from the parser and the schemas, and its
index page, opened in a real headless Chromium, shows the navigation and its pictures."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # a real build (several seconds), a real browser


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("mkdocs", reason="mkdocs is in the dev extra: pip install -e '.[dev]'")
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def test_the_site_builds_strictly_with_every_page(site: Path) -> None:
    for page in ("getting-started", "install", "dependencies", "training", "experiments", "stylizing",
                 "model-files", "performance", "reliability", "reference/cli", "reference/config",
                 "families", "development"):
        assert (site / page / "index.html").is_file(), page
    assert (site / "gui.png").is_file()
    assert not (site / "_pending").exists()  # other pages in waiting stay out of the site


def test_the_reference_pages_come_from_the_parser_and_the_schemas(site: Path) -> None:
    from stylexfer.cli.main import build_parser
    from stylexfer.training.config import GROUP_SCHEMAS

    cli = (site / "reference" / "cli" / "index.html").read_text(encoding="utf-8")
    for action in build_parser()._actions:
        for name in getattr(action, "choices", None) or {}:
            assert f"stylexfer {name}" in cli, name
    assert "--style-weights" in cli and "--tile-size" in cli
    config = (site / "reference" / "config" / "index.html").read_text(encoding="utf-8")
    for group in GROUP_SCHEMAS:
        assert f"<code>{group}.</code>" in config or f"{group}." in config, group
    assert "optim.lr" in config and "model.content_weight" in config


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        if found := shutil.which(name):
            return found
    return None


@pytest.fixture
def served(site: Path) -> Iterator[str]:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()


def test_the_index_page_shows_its_navigation_and_pictures_in_chromium(served: str, tmp_path: Path) -> None:
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra")
    browser_path = _chromium()
    if browser_path is None:
        pytest.skip("no Chromium on this machine: apt-get install chromium (.ci/run installs it)")
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=browser_path, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            failed: list[str] = []
            page.on("requestfailed", lambda request: failed.append(request.url))
            page.on("response", lambda response: response.status >= 400 and failed.append(response.url))
            page.goto(served, wait_until="networkidle")
            nav = page.locator("nav.md-nav--primary").first.inner_text()
            for entry in ("Getting started", "Training and recipes", "Experiments", "Stylizing", "Model files",
                          "Performance", "Reliability", "Reference", "Adding a model family"):
                assert entry in nav, entry
            images = page.eval_on_selector_all(
                "article img", "imgs => imgs.map(i => [i.getAttribute('src'), i.complete, i.naturalWidth])")
            assert len(images) >= 2 and all(done and width > 100 for _, done, width in images), images
            assert failed == []
            page.click("nav.md-nav--primary >> text=Stylizing")  # the navigation really leads somewhere
            page.wait_for_load_state("networkidle")
            assert page.url.rstrip("/").endswith("/stylizing") and "stylexfer stylize" in page.content()
            page.goto(served, wait_until="networkidle")
            shot = tmp_path / "index.png"
            page.screenshot(path=str(shot), full_page=False)
        finally:
            browser.close()
    assert shot.stat().st_size > 20_000  # a real rendering, not a blank page
    print(f"screenshot: {shot}")
