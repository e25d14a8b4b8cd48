"""The course website (scripts/build_site.py): links resolve, pages render in a real browser.

The site is built once, cheaply: only chapter 01 (no network runs, about 15 s) is executed, in
quick mode with random weights; the other notebooks are converted as they are. The browser
part opens pages in Debian's headless Chromium through Playwright, with every request that
leaves the site blocked (CDN scripts included), and saves screenshots to ``tests/artifacts/``.
It skips cleanly without Chromium or Playwright (``bash scripts/browser_setup.sh``).
"""

from __future__ import annotations

import importlib.util
import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from browser_support import CHROMIUM

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts"
EXECUTED = "01_images_and_preprocessing"
S = 1000  # Playwright timeouts are in milliseconds

_spec = importlib.util.spec_from_file_location("build_site", REPO / "scripts" / "build_site.py")
build_site = importlib.util.module_from_spec(_spec)
sys.modules["build_site"] = build_site  # dataclasses look their module up there
_spec.loader.exec_module(build_site)


class _Page(HTMLParser):
    """Collects a page's element ids and its link/src targets."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.targets: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("id", "name") and value:
                self.ids.add(value)
            if name in ("href", "src") and value is not None:
                self.targets.append(value)


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def _has_anchor(page: _Page, fragment: str) -> bool:
    """As browsers do: the fragment as written (nbconvert's ids are %-encoded), then decoded."""
    return fragment in page.ids or unquote(fragment) in page.ids


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A freshly built site: chapter 01 executed, everything else converted as is."""
    root = tmp_path_factory.mktemp("site")
    out = root / "_site"
    argv = ["site", "--out", str(out), "--cache", str(root / "cache"), "--execute", EXECUTED[:2]]
    assert build_site.main([*argv, "--weights", "random", "--quick"]) == 0
    return out


def _chapters() -> list[str]:
    return sorted(p.stem for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_index_is_a_table_of_contents(site):
    targets = set(_parse(site / "index.html").targets)
    expected = {f"{name}.html" for name in _chapters()} | {"teaching.html"}
    if (REPO / "notebooks" / "solutions" / "solutions.ipynb").exists():
        expected.add("solutions.html")
    assert expected <= targets
    assert all((site / name).is_file() for name in expected)


def test_every_internal_link_resolves(site):
    pages = {p.name: _parse(p) for p in site.glob("*.html")}
    assert len(pages) >= len(_chapters()) + 2
    broken = []
    for name, page in pages.items():
        for target in page.targets:
            parts = urlsplit(target)
            if parts.scheme or target.startswith("//"):
                continue  # http(s), data: and the like leave the site
            file = unquote(parts.path) or name
            if not (site / file).is_file():
                broken.append(f"{name}: {target}")
            elif parts.fragment and file in pages and not _has_anchor(pages[file], parts.fragment):
                broken.append(f"{name}: {target} (no such anchor)")
    assert not broken, "\n".join(broken)


def test_notebook_links_became_page_links(site):
    page = (site / "00_setup_and_tour.html").read_text(encoding="utf-8")
    assert 'href="01_images_and_preprocessing.html"' in page
    relative_ipynb = re.findall(r'href="(?!https?:)[^"]*\.ipynb', page)
    assert not relative_ipynb


def test_random_weights_pages_say_so(site):
    executed = (site / f"{EXECUTED}.html").read_text(encoding="utf-8")
    assert "data:image/png;base64" in executed  # the figures are there
    assert build_site.BANNER_TITLE in executed  # the setup cell's own banner
    assert 'class="nst-random-banner"' in executed  # and the one pinned to the top
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "Built with random VGG19 weights" in index


# ---- in a real browser -------------------------------------------------------------------------


@pytest.fixture
def offline_page(request):
    """A Playwright page that may only load files: every network request is aborted."""
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    pytest.importorskip("pytest_playwright", reason="pytest-playwright is not installed")
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} missing (bash scripts/browser_setup.sh)")
    page = request.getfixturevalue("page")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.set_default_timeout(30 * S)
    page.route(
        "**/*",
        lambda route: route.continue_() if route.request.url.startswith("file:") else route.abort(),
    )
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.errors = errors
    return page


def test_pages_in_headless_chromium(site, offline_page):
    page = offline_page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    page.goto((site / "index.html").as_uri())
    assert "nst-course" in page.title()
    page.screenshot(path=str(ARTIFACTS / "site_index.png"))

    # follow the table of contents to the executed chapter, as a reader would
    page.get_by_role("link", name=re.compile(r"^01 · Images")).first.click()
    page.wait_for_url(re.compile(rf"{EXECUTED}\.html$"))
    pinned = page.locator(".nst-random-banner")
    assert pinned.is_visible()
    assert page.get_by_text(build_site.BANNER_TITLE).first.is_visible()
    page.screenshot(path=str(ARTIFACTS / "site_chapter_top.png"))

    figure = page.locator("img[src^='data:image/png']").first
    figure.scroll_into_view_if_needed()
    assert figure.evaluate("img => img.complete && img.naturalWidth > 100")
    box = pinned.bounding_box()
    assert box is not None and box["y"] <= 1  # the banner stays pinned while scrolling
    page.screenshot(path=str(ARTIFACTS / "site_chapter_figure.png"))

    page.get_by_role("link", name="Course home").first.click()
    page.wait_for_url(re.compile(r"index\.html$"))
    page.get_by_role("link", name=re.compile("Teaching")).first.click()
    page.wait_for_url(re.compile(r"teaching\.html$"))
    assert page.locator("h1").first.is_visible()
    page.screenshot(path=str(ARTIFACTS / "site_teaching.png"))

    # the pages' own scripts may miss their CDN libraries offline, but must not fail otherwise
    unexpected = [e for e in page.errors if not re.search(r"require|MathJax|define|\$", e)]
    assert not unexpected, unexpected
