"""Helpers for the tests that drive the running demo in headless Chromium (not a test module).

Debian's ``/usr/bin/chromium`` through Python ``playwright`` (``playwright install`` cannot download browsers
here; ``make browser`` installs the Debian package). :func:`require_browser` skips a module with a reason when
Chromium, playwright or gradio is missing.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
EXAMPLES = ROOT / "demo" / "examples"
SAD = EXAMPLES / "dataset-1_walk_sad_001.bvh"
CSV = EXAMPLES / "synthetic_kinect_v2_angry_walk.csv"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 90_000
ANIMATION_SHOWN = ("() => { const i = document.querySelector('#eai-animation img');"
                   " return !!(i && i.complete && i.naturalWidth > 0); }")


def require_browser():
    """The playwright sync API, or skip the calling module with the reason."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (`make browser`, as root) to run the "
                    "browser tests", allow_module_level=True)
    pytest.importorskip("gradio", reason="gradio is not installed (pip install -e '.[dev]')")
    return pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def open_page(browser, url: str):
    """A page in its own browser context (own cookies and session: another user)."""
    page = browser.new_context(viewport={"width": 1280, "height": 1500}).new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    page.wait_for_selector("#eai-upload input[type=file]", state="attached")
    return page


def upload(page, path: Path) -> float:
    """Upload like a user: clear the previous file when there is one, then choose the new one."""
    clear = page.locator("#eai-upload button[aria-label='Clear']")
    if clear.count():
        clear.first.click()
    page.wait_for_selector("#eai-upload input[type=file]", state="attached")
    t0 = time.perf_counter()
    page.locator("#eai-upload input[type=file]").set_input_files(str(path))
    return t0


def wait_preview(page, name: str) -> None:
    """An upload's preview: the clip line names the file and the animation has loaded."""
    page.wait_for_function(f"() => (document.querySelector('#eai-clip') || {{}}).innerText?.includes({name!r})")
    page.wait_for_function(ANIMATION_SHOWN)


def choose_layout(page, name: str) -> None:
    box = page.locator("#eai-layout input")
    box.click()
    box.fill(name)
    page.get_by_role("option", name=name, exact=True).click()


def wait_done(page, name: str) -> None:
    """The JSON download for this clip appears at the very end of a request (else fail with what the page shows)."""
    try:
        page.wait_for_selector(f'#eai-json a[download="{Path(name).stem}.eai-llm.json"]')
    except Exception:
        shown = {sel: page.locator(sel).inner_text()[:300] if page.locator(sel).count() else None
                 for sel in ("#eai-error", "#eai-notice", "#eai-clip", "#eai-run", "#eai-status", "#eai-explanation")}
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"demo_browser_timeout_{Path(name).stem}.png"), full_page=True)
        raise AssertionError(f"no result for {name}; the page shows {shown}") from None


def error_line(page) -> str:
    error = page.locator("#eai-error")
    error.wait_for(state="visible")
    return error.inner_text().strip()


def chart(page) -> tuple[str, dict[str, float]]:
    """The probability chart as shown: the heading label and one bar (meter) per label."""
    heading = page.locator("#eai-probs [data-testid=label-output-value]").inner_text().strip()
    bars = {m.get_attribute("aria-label"): float(m.get_attribute("value"))
            for m in page.locator("#eai-probs meter").all()}
    return heading, bars


def assert_chart(page, labels: list[str]) -> dict[str, float]:
    heading, bars = chart(page)
    assert set(bars) == set(labels)
    assert sum(bars.values()) == pytest.approx(1.0, abs=1e-3)
    assert heading == max(bars, key=bars.get)
    return bars


def first_words(page) -> None:
    page.wait_for_function(
        """() => { const e = document.querySelector('#eai-explanation');
                   const t = e ? e.innerText.replace(/^\\s*Explanation\\s*/, '').trim() : '';
                   return t.length > 0 && !t.startsWith('Writing') && !t.startsWith('Waiting'); }""")


#: words (runs of non-space characters) in the given table's cells that the browser broke over two lines
WORDS_BROKEN = """(sel) => { const out = [];
  for (const td of document.querySelectorAll(sel + ' td')) {
    const walker = document.createTreeWalker(td, NodeFilter.SHOW_TEXT); let n;
    while ((n = walker.nextNode())) { const re = /\\S+/g; let m;
      while ((m = re.exec(n.data))) { const r = document.createRange(); r.setStart(n, m.index);
        r.setEnd(n, m.index + m[0].length);
        if ([...r.getClientRects()].filter(x => x.width > 0).length > 1) out.push(m[0]); } } }
  return out; }"""


class CountingModel:
    """Counts the server's model calls (classifications of uploads) and can hold them until ``n`` run at the same
    time."""

    def __init__(self, interp, monkeypatch):
        self.real = interp.classify_windows
        self.calls = 0
        self.meet: threading.Barrier | None = None
        self._lock = threading.Lock()
        monkeypatch.setattr(interp, "classify_windows", self)

    def __call__(self, clips, task="emotion", batch_size=32):
        # the what-if of an explanation classifies an edited copy of the clip: not a classification of the upload
        if any(isinstance(c.meta, dict) and c.meta.get("edited_cues") for c in clips):
            return self.real(clips, task, batch_size)
        with self._lock:
            self.calls += 1
        if self.meet is not None:
            self.meet.wait()
        return self.real(clips, task, batch_size)


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium per test module (skips with a reason where it is missing)."""
    playwright_api = require_browser()
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()
