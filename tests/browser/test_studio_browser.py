"""Chapter 06 in a real JupyterLab and a real Chromium, as a learner would use it.

Opens the notebook, runs all cells from the Run menu, waits for the studio, clicks Run, waits
for the preview to change, clicks Stop and checks the studio reports the stop. Screenshots go
to ``tests/artifacts/`` (gitignored). Skips cleanly without Chromium or Playwright; install
both with ``bash scripts/browser_setup.sh``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from browser_support import CHROMIUM

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts"

pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytest.importorskip("pytest_playwright", reason="pytest-playwright is not installed")

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"{CHROMIUM} missing (bash scripts/browser_setup.sh)"
)

NOTEBOOK = "notebooks/06_interactive_studio.ipynb"
STUDIO = ".nst-style-studio"
S = 1000  # Playwright timeouts are in milliseconds

# True once every code cell shows an execution count ("[12]:", not "[ ]:" or "[*]:"), or
# once an error appears: Jupyter stops a Run All at the first error.
ALL_CELLS_DONE_JS = """() => {
  const text = document.querySelector('.jp-Notebook')?.innerText ?? '';
  if (text.includes('Traceback (most recent call last)') || text.includes('Error Traceback')) {
    return 'error';
  }
  const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];
  return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.innerText)) ? 'done' : false;
}"""


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def shot_on_failure(page):
    """Save what the browser showed when the test failed: the quickest way to see why."""
    yield
    # pytest has no failure flag here; an unconditional last shot is cheap and always useful
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "studio_browser_last.png"), full_page=True)


def test_studio_runs_and_stops_in_jupyterlab(lab_server, page, shot_on_failure):
    notebook_digest = _digest(REPO / NOTEBOOK)
    checkpoint = (
        REPO / "notebooks" / ".ipynb_checkpoints" / "06_interactive_studio-checkpoint.ipynb"
    )
    had_checkpoint = checkpoint.exists()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.set_default_timeout(60 * S)

    page.goto(lab_server.url(NOTEBOOK))
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90 * S)
    # the kernel is connected once the status bar names it as idle; running cells before that
    # makes JupyterLab ask which kernel to use
    page.locator(".jp-StatusBar-Widget", has_text="| Idle").first.wait_for(timeout=90 * S)

    # Run > Run All Cells, through the menu as a learner would
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.get_by_text("Run All Cells", exact=True).click()
    kernel_dialog = page.locator(".jp-Dialog", has_text="Select Kernel")
    if kernel_dialog.is_visible():  # slow machines: accept the notebook's own kernel
        kernel_dialog.get_by_role("button", name="Select").click()

    studio = page.locator(STUDIO)
    studio.wait_for(state="visible", timeout=90 * S)
    outcome = page.wait_for_function(ALL_CELLS_DONE_JS, timeout=150 * S).json_value()
    if outcome == "error":
        page.screenshot(path=str(ARTIFACTS / "studio_browser_error.png"), full_page=True)
    assert outcome == "done", "a notebook cell raised; see tests/artifacts/studio_browser_error.png"
    assert studio.count() == 1
    assert "RANDOM WEIGHTS" in studio.inner_text()  # the banner is visible inside the studio

    preview = studio.locator(".nst-preview")
    before = preview.get_attribute("src")
    studio.scroll_into_view_if_needed()
    run = studio.locator("button.nst-run-button")
    stop = studio.locator("button.nst-stop-button")
    run.click()
    # the kernel is idle, so the click starts a run in the studio's thread at once
    page.wait_for_function(
        "([el, before]) => el.getAttribute('src') !== before",
        arg=[preview.element_handle(), before],
        timeout=60 * S,
    )
    # a few steps more, so the loss plot has curves in the screenshot
    page.wait_for_function(
        "el => parseInt(el.innerText) >= 4",
        arg=studio.locator(".nst-progress-label").element_handle(),
        timeout=60 * S,
    )
    status = studio.locator(".nst-status")
    assert stop.is_enabled()
    stop.click()
    status.locator("text=Stopped after").wait_for(timeout=60 * S)
    # the studio frees its buttons before it says so; allow the browser a moment to render
    page.wait_for_function("el => !el.disabled", arg=run.element_handle(), timeout=10 * S)
    assert run.is_enabled() and not stop.is_enabled()

    studio.screenshot(path=str(ARTIFACTS / "studio_browser.png"))
    page.screenshot(path=str(ARTIFACTS / "studio_browser_page.png"))
    for tab in ("Loss", "Optimizer"):  # the other control tabs, for a look at their layout
        studio.locator(".lm-TabBar-tab", has_text=tab).click()
        studio.screenshot(path=str(ARTIFACTS / f"studio_browser_{tab.lower()}_tab.png"))
    assert (ARTIFACTS / "studio_browser.png").stat().st_size > 10_000
    # autosave is off and nothing saved: the committed notebook is untouched
    assert _digest(REPO / NOTEBOOK) == notebook_digest
    assert checkpoint.exists() == had_checkpoint  # checkpoints go to the server's temp folder
