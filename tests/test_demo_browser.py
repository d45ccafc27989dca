"""The demo in a real browser: headless Chromium drives the running server (upload, results, errors, two users).

Starts the demo on a free loopback port with a tiny trained model (in this process, Gradio's server thread),
then uses Debian's ``/usr/bin/chromium`` through Python ``playwright`` (``playwright install`` cannot download
browsers here; ``make browser`` installs the Debian package). Skips with a reason when Chromium, playwright or
gradio is missing. Saves screenshots and the measured timings under ``test-artifacts/``.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
SAD = ROOT / "demo" / "examples" / "dataset-1_walk_sad_001.bvh"
CSV = ROOT / "demo" / "examples" / "synthetic_kinect_v2_angry_walk.csv"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 90_000

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (`make browser`, as root) to run the browser "
                "test", allow_module_level=True)
pytest.importorskip("gradio", reason="gradio is not installed (pip install -e '.[dev]')")
playwright_api = pytest.importorskip("playwright.sync_api",
                                     reason="playwright is not installed (pip install -e '.[dev]')")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tiny_model):
    from eai_llm.demo import serve

    port = _free_port()
    # EAI_LLM_DEMO_TEST_MODEL=dir measures the same page with a real model (e.g. the bundled default)
    model = os.environ.get("EAI_LLM_DEMO_TEST_MODEL") or tiny_model
    t0 = time.perf_counter()
    demo = serve(model, host="127.0.0.1", port=port, prevent_thread_lock=True, quiet=True)
    ready_s = time.perf_counter() - t0
    demo.eai_backend.holder.get(timeout=120)   # the page may show "loading"; the tests want results
    yield demo, f"http://127.0.0.1:{port}/", ready_s
    demo.close()


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


def _open(browser, url: str):
    """A page in its own browser context (own cookies and session: another user)."""
    page = browser.new_context(viewport={"width": 1280, "height": 1500}).new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    page.wait_for_selector("#eai-upload input[type=file]", state="attached")
    return page


def _upload(page, path: Path) -> float:
    """Upload like a user: clear the previous file when there is one, then choose the new one."""
    clear = page.locator("#eai-upload button[aria-label='Clear']")
    if clear.count():
        clear.first.click()
    page.wait_for_selector("#eai-upload input[type=file]", state="attached")
    t0 = time.perf_counter()
    page.locator("#eai-upload input[type=file]").set_input_files(str(path))
    return t0


def _wait_done(page, name: str) -> None:
    """The JSON download for this clip appears at the very end of a request."""
    page.wait_for_selector(f'#eai-json a[download="{Path(name).stem}.eai-llm.json"]')


def _chart(page) -> tuple[str, dict[str, float]]:
    """The probability chart as shown: the heading label and one bar (meter) per label."""
    heading = page.locator("#eai-probs [data-testid=label-output-value]").inner_text().strip()
    bars = {m.get_attribute("aria-label"): float(m.get_attribute("value"))
            for m in page.locator("#eai-probs meter").all()}
    return heading, bars


def _assert_chart(page, labels: list[str]) -> None:
    heading, bars = _chart(page)
    assert set(bars) == set(labels)
    assert sum(bars.values()) == pytest.approx(1.0, abs=1e-3)
    assert heading == max(bars, key=bars.get)


def _first_words(page) -> None:
    page.wait_for_function(
        """() => { const e = document.querySelector('#eai-explanation');
                   const t = e ? e.innerText.trim() : '';
                   return t.length > 0 && !t.startsWith('Writing') && !t.startsWith('Waiting'); }""")


def test_upload_shows_label_chart_explanation_evidence_then_errors_and_recovers(server, browser, tmp_path):
    demo, url, ready_s = server
    labels = demo.eai_backend.holder.get().label_sets["emotion"]
    page = _open(browser, url)
    # the status line turns to "ready" by itself (page-load event / timer), without a reload
    page.wait_for_function("() => (document.querySelector('#eai-status') || {}).innerText?.includes('Model ready')",
                           timeout=15_000)
    intro = page.locator("#eai-intro").inner_text()
    assert "20 MB" in intro and "2 minutes" in intro and "CC BY-NC 4.0" in intro

    # 1. a real clip: label, probability chart, animation, explanation, evidence table, timeline, JSON
    t0 = _upload(page, SAD)
    _first_words(page)
    first_words_s = time.perf_counter() - t0
    _wait_done(page, SAD.name)
    done_s = time.perf_counter() - t0
    _assert_chart(page, labels)
    assert page.locator("#eai-explanation").inner_text().strip()
    evidence = page.locator("#eai-evidence")
    assert evidence.is_visible()
    head = evidence.inner_text()
    for column in ("measured", "typical", "supported"):
        assert column in head
    assert page.locator("#eai-timeline").is_visible()
    img = page.locator("#eai-animation img")
    page.wait_for_function("() => { const i = document.querySelector('#eai-animation img');"
                           " return i && i.complete && i.naturalWidth > 0; }")
    assert ".gif" in (img.get_attribute("src") or "")
    assert SAD.name in page.locator("#eai-clip").inner_text()
    assert not page.locator("#eai-error").is_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "demo_browser.png"), full_page=True)

    # 2. a corrupt file: one-line error in the page, no result, no traceback
    broken = tmp_path / "broken_clip.bvh"
    broken.write_text("HIERARCHY\nROOT Hips\n{\n  OFFSET 0 0 0\n  CHANNELS 3 Xposition\n")
    _upload(page, broken)
    error = page.locator("#eai-error")
    error.wait_for(state="visible")
    message = error.inner_text().strip()
    assert "broken_clip.bvh" in message and "Traceback" not in message
    assert len(message.splitlines()) == 1
    assert "/tmp/" not in message                     # the user's file name, not the server's temp path
    page.screenshot(path=str(ARTIFACTS / "demo_browser_error.png"), full_page=True)

    # 3. the server keeps serving: a following good upload (another format) works and clears the error
    _upload(page, CSV)
    _wait_done(page, CSV.name)
    assert not page.locator("#eai-error").is_visible()
    _assert_chart(page, labels)
    assert "kinect_v2" in page.locator("#eai-clip").inner_text()
    timings = {"server_ready_s": round(ready_s, 2), "upload_to_first_words_s": round(first_words_s, 2),
               "upload_to_done_s": round(done_s, 2), "server_side_last": demo.eai_backend.last_timings}
    (ARTIFACTS / "demo_browser_timings.json").write_text(json.dumps(timings, indent=2))
    page.context.close()


def test_two_browsers_at_once_and_an_example_click(server, browser):
    demo, url, _ = server
    labels = demo.eai_backend.holder.get().label_sets["emotion"]
    a, b = _open(browser, url), _open(browser, url)      # two users at once
    _upload(a, SAD)
    _upload(b, CSV)
    _wait_done(a, SAD.name)
    _wait_done(b, CSV.name)
    for page in (a, b):
        _assert_chart(page, labels)
        assert not page.locator("#eai-error").is_visible()
    # the example picker runs on click
    a.get_by_text("Tired walk · real mocap").click()
    _wait_done(a, "dataset-1_walk_tired_002.bvh")
    assert "dataset-1_walk_tired_002.bvh" in a.locator("#eai-clip").inner_text()
    a.context.close()
    b.context.close()


def test_limits_are_shown_and_enforced_in_the_page(tiny_model, browser):
    from eai_llm.demo import DemoLimits, serve

    port = _free_port()
    demo = serve(tiny_model, host="127.0.0.1", port=port, limits=DemoLimits(max_upload_mb=0.3, max_seconds=5.0),
                 prevent_thread_lock=True, quiet=True)
    try:
        page = _open(browser, f"http://127.0.0.1:{port}/")
        assert "files up to 0.3 MB, clips up to 5 s" in page.locator("#eai-intro").inner_text()
        # too large (0.4 MB): refused at upload, the page says why
        _upload(page, SAD)
        page.get_by_text("exceed the maximum allowed size").first.wait_for(state="visible")
        # too long (6 s): the one-line error names the limit
        _upload(page, CSV)
        error = page.locator("#eai-error")
        error.wait_for(state="visible")
        assert "synthetic_kinect_v2_angry_walk.csv: duration: 6.0 s, the demo accepts clips up to 5 s" in \
            error.inner_text()
        page.context.close()
    finally:
        demo.close()
