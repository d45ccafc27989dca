"""The demo in a real browser: headless Chromium drives the running server (preview, one model run per request,
the NPY layout flow, errors, two users at once, limits).

Starts the demo on a free loopback port with a tiny trained model (in this process, Gradio's server thread),
then uses Debian's ``/usr/bin/chromium`` through Python ``playwright`` (see ``tests/demo_browser.py``). Skips
with a reason when Chromium, playwright or gradio is missing. Saves screenshots and the measured timings under
``test-artifacts/``.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from demo_browser import (browser, ARGS, ARTIFACTS, CHROMIUM, CSV, SAD, WORDS_BROKEN, CountingModel, assert_chart,
                          choose_layout, error_line, first_words, free_port, open_page, require_browser, upload,
                          wait_done, wait_preview)

playwright_api = require_browser()


@pytest.fixture(scope="module")
def server(tiny_model):
    from eai_llm.demo import serve

    port = free_port()
    # EAI_LLM_DEMO_TEST_MODEL=dir measures the same page with a real model (e.g. the bundled default)
    model = os.environ.get("EAI_LLM_DEMO_TEST_MODEL") or tiny_model
    t0 = time.perf_counter()
    demo = serve(model, host="127.0.0.1", port=port, prevent_thread_lock=True, quiet=True)
    ready_s = time.perf_counter() - t0
    demo.eai_backend.holder.get(timeout=120)   # the page may show "loading"; the tests want results
    yield demo, f"http://127.0.0.1:{port}/", ready_s
    work = demo.eai_backend.work_dir
    demo.close()
    assert not work.exists(), "closing the demo leaves its work folder behind"


@pytest.fixture
def model(server, monkeypatch) -> CountingModel:
    demo, _, _ = server
    return CountingModel(demo.eai_backend.holder.get(), monkeypatch)


def test_upload_previews_then_interpret_runs_once_then_errors_and_recovers(server, browser, model, tmp_path):
    demo, url, ready_s = server
    be = demo.eai_backend
    interp = be.holder.get()
    labels = interp.label_sets["emotion"]
    page = _open_ready(browser, url)
    intro = page.locator("#eai-intro").inner_text()
    assert "20 MB" in intro and "2 minutes" in intro and "CC BY-NC 4.0" in intro
    status = page.locator("#eai-status").inner_text()
    assert str(interp.model_dir) not in status and interp.model_dir.name in status     # no server path
    for empty in ("#eai-probs", "#eai-json", "#eai-explanation", "#eai-timeline", "#eai-animation", "#eai-error",
                  "#eai-notice", "#eai-cues"):
        assert not page.locator(empty).is_visible(), f"{empty} shows before there is a result"

    # 1. upload: the clip is shown (facts, animation), the model does not run
    t0 = upload(page, SAD)
    wait_preview(page, SAD.name)
    assert "bandai_namco_22" in page.locator("#eai-clip").inner_text()
    assert ".gif" in (page.locator("#eai-animation img").get_attribute("src") or "")
    assert model.calls == 0 and not page.locator("#eai-probs").is_visible()
    # 2. Interpret: one model run; label, chart, explanation, timeline, cue table, JSON
    page.locator("#eai-run").click()
    first_words(page)
    first_words_s = time.perf_counter() - t0
    wait_done(page, SAD.name)
    done_s = time.perf_counter() - t0
    assert model.calls == 1, f"one Interpret ran the model {model.calls} times"
    assert_chart(page, labels)
    assert page.locator("#eai-explanation").inner_text().strip()
    assert page.locator("#eai-timeline").is_visible() and not page.locator("#eai-error").is_visible()
    page.get_by_text("All measured cues").click()
    cues = page.locator("#eai-cues")
    cues.wait_for(state="visible")
    assert "walking speed (m/s)" in cues.inner_text() and "walking_speed" not in cues.inner_text()
    assert page.evaluate(WORDS_BROKEN, "#eai-cues") == [], "cue table cells wrap mid-word"
    href = page.locator(f'#eai-json a[download="{SAD.stem}.eai-llm.json"]').get_attribute("href")
    exported = urllib.request.urlopen(href if href.startswith("http") else url.rstrip("/") + href).read().decode()
    doc = json.loads(exported)
    assert doc["interpretation"]["source"] == SAD.name and doc["model"] == interp.model_dir.name
    for server_path in (str(SAD.parent), str(be.work_dir), str(interp.model_dir), "/tmp/"):
        assert server_path not in exported
    assert list(be.work_dir.iterdir()) == [], "the request's files outlive it"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "demo_browser.png"), full_page=True)

    # 3. a corrupt file: one-line error at upload, in the page, no traceback, no server path, no model call
    broken = tmp_path / "broken_clip.bvh"
    broken.write_text("HIERARCHY\nROOT Hips\n{\n  OFFSET 0 0 0\n  CHANNELS 3 Xposition\n")
    upload(page, broken)
    message = error_line(page)
    assert "broken_clip.bvh" in message and "Traceback" not in message and len(message.splitlines()) == 1
    assert "/tmp/" not in message and str(tmp_path) not in message
    assert not page.locator("#eai-probs").is_visible() and model.calls == 1
    page.screenshot(path=str(ARTIFACTS / "demo_browser_error.png"), full_page=True)

    # 4. the server keeps serving: a following good upload (another format) works and clears the error
    upload(page, CSV)
    wait_preview(page, CSV.name)
    assert not page.locator("#eai-error").is_visible()
    page.locator("#eai-run").click()
    wait_done(page, CSV.name)
    assert model.calls == 2
    assert_chart(page, labels)
    assert "kinect_v2" in page.locator("#eai-clip").inner_text()
    timings = {"server_ready_s": round(ready_s, 2), "upload_to_first_words_s": round(first_words_s, 2),
               "upload_to_done_s": round(done_s, 2), "server_side_last": be.last_timings}
    (ARTIFACTS / "demo_browser_timings.json").write_text(json.dumps(timings, indent=2))
    page.context.close()


def test_an_npy_asks_for_its_layout_before_it_runs(server, browser, model, tmp_path):
    from eai_llm.data.synthetic import synthetic_clip

    demo, url, _ = server
    npy = tmp_path / "pose_from_kinect.npy"
    np.save(npy, synthetic_clip("angry", "kinect_v2", seconds=3.0, seed=7).positions.astype(np.float32))
    page = _open_ready(browser, url)
    upload(page, npy)
    notice = page.locator("#eai-notice")
    notice.wait_for(state="visible")
    text = notice.inner_text().strip()
    assert text == ("pose_from_kinect.npy: this file has 25 joints and no joint names: choose its skeleton layout "
                    "below (kinect_v2, openpose_25 have 25 joints)")
    assert not page.locator("#eai-error").is_visible() and model.calls == 0
    choose_layout(page, "kinect_v2")
    wait_preview(page, npy.name)
    assert not notice.is_visible() and "kinect_v2 (25 joints)" in page.locator("#eai-clip").inner_text()
    assert model.calls == 0
    page.locator("#eai-run").click()
    wait_done(page, npy.name)
    assert model.calls == 1 and not page.locator("#eai-error").is_visible()
    page.context.close()


def test_two_users_are_served_at_once_and_an_example_click(server, browser, model):
    demo, url, _ = server
    labels = demo.eai_backend.holder.get().label_sets["emotion"]
    model.meet = threading.Barrier(2, timeout=60)     # a classification waits until the other one runs too
    a, b = open_page(browser, url), open_page(browser, url)      # two users at once
    upload(a, SAD)
    upload(b, CSV)
    wait_preview(a, SAD.name)
    wait_preview(b, CSV.name)
    a.locator("#eai-run").click()
    b.locator("#eai-run").click()
    wait_done(a, SAD.name)
    wait_done(b, CSV.name)
    assert not model.meet.broken, "the two requests did not run at the same time"
    assert model.calls == 2
    for page in (a, b):
        assert_chart(page, labels)
        assert not page.locator("#eai-error").is_visible()
    model.meet = None
    # the example picker runs on click: preview and interpretation in one request, one model run
    a.get_by_text("Tired walk · real mocap").click()
    wait_done(a, "dataset-1_walk_tired_002.bvh")
    assert "dataset-1_walk_tired_002.bvh" in a.locator("#eai-clip").inner_text() and model.calls == 3
    a.wait_for_function("""() => { const i = document.querySelector('#eai-animation img');
                                   return !!(i && i.complete && i.naturalWidth > 0 && i.src.includes('tired')); }""")
    a.context.close()
    b.context.close()


def test_limits_are_shown_and_enforced_in_the_page(tiny_model, browser):
    from eai_llm.demo import DemoLimits, serve

    port = free_port()
    demo = serve(tiny_model, host="127.0.0.1", port=port, limits=DemoLimits(max_upload_mb=0.3, max_seconds=5.0),
                 prevent_thread_lock=True, quiet=True)
    try:
        page = open_page(browser, f"http://127.0.0.1:{port}/")
        assert "files up to 0.3 MB, clips up to 5 s" in page.locator("#eai-intro").inner_text()
        # too large (0.4 MB): refused at upload, the page says why
        upload(page, SAD)
        page.get_by_text("exceed the maximum allowed size").first.wait_for(state="visible")
        # too long (6 s): the one-line error names the limit, as soon as it is uploaded
        upload(page, CSV)
        assert "synthetic_kinect_v2_angry_walk.csv: duration: 6.0 s, the demo accepts clips up to 5 s" in \
            error_line(page)
        page.context.close()
    finally:
        demo.close()


def _open_ready(browser, url: str):
    page = open_page(browser, url)
    # the status line turns to "ready" by itself (page-load event / timer), without a reload
    page.wait_for_function("() => (document.querySelector('#eai-status') || {}).innerText?.includes('Model ready')",
                           timeout=15_000)
    return page
