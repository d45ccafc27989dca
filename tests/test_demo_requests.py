"""Demo requests without a browser: the NPY layout flow, two requests at once, the per-request time limit, hostile
files refused from their structure, the optional result fields, and page words without server paths."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from eai_llm.data.synthetic import synthetic_clip
from eai_llm.demo import DemoBackend, DemoLimits, LayoutNeeded, read_upload, scrub_paths, user_message
from eai_llm.demo.format import llm_alone_markdown, warnings_markdown, warnings_of
from eai_llm.skeleton.errors import ClipLimitError, LayoutError
from eai_llm.skeleton.io import save_clip
from eai_llm.skeleton.layouts import get_layout, list_layouts

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "demo" / "examples"
SAD = EXAMPLES / "dataset-1_walk_sad_001.bvh"
CSV = EXAMPLES / "synthetic_kinect_v2_angry_walk.csv"


@pytest.fixture(scope="module")
def interp(tiny_model):
    from eai_llm.interpreter import EmotionInterpreter

    return EmotionInterpreter.from_pretrained(tiny_model)


def _last(updates: list[dict]) -> dict:
    shown: dict = {}
    for u in updates:
        shown.update(u)
    return shown


def _kinect_npy(tmp_path: Path) -> Path:
    clip = synthetic_clip("angry", "kinect_v2", seconds=3.0, seed=7)
    path = tmp_path / "pose.npy"
    np.save(path, clip.positions.astype(np.float32))
    return path


# ---- the layout is chosen before an NPY runs ---------------------------------------------------------------
def test_npy_with_auto_layout_asks_for_the_layout_in_the_page_words(interp, tmp_path):
    be = DemoBackend(interp, max_new_tokens=3, work_dir=tmp_path / "w")
    npy = _kinect_npy(tmp_path)
    shown = _last(list(be.preview(str(npy), "auto")))
    assert shown["error"] is None and shown["animation"] is None
    assert shown["notice"] == ("pose.npy: this file has 25 joints and no joint names: choose its skeleton layout "
                               "below (kinect_v2, openpose_25 have 25 joints)")
    assert "--layout" not in shown["notice"] and "layout=" not in shown["notice"]
    calls = be.model_calls
    assert _last(list(be.run(str(npy), "auto")))["notice"] == shown["notice"] and be.model_calls == calls
    # the user chooses the layout: the preview shows the clip, Interpret runs it once
    shown = _last(list(be.preview(str(npy), "kinect_v2")))
    assert shown["notice"] is None and shown["animation"] and "kinect_v2" in shown["clip"]
    shown = _last(list(be.run(str(npy), "kinect_v2", render=False)))
    assert shown["error"] is None and shown["probabilities"] and be.model_calls == calls + 1
    # a bare NPZ array says nothing about its layout either
    bare = tmp_path / "bare.npz"
    np.savez(bare, positions=np.zeros((20, 17, 3), np.float32))
    with pytest.raises(LayoutNeeded, match="17 joints and no joint names.*h36m_17"):
        read_upload(bare)
    # only the demo's own layouts can be chosen (no file path through the layout field)
    with pytest.raises(LayoutError, match="not one of the demo's layouts"):
        read_upload(npy, str(tmp_path / "x.json"))


# ---- two requests at once, a time limit --------------------------------------------------------------------
def test_two_requests_are_served_at_once(interp, tmp_path, monkeypatch):
    be = DemoBackend(interp, max_new_tokens=3, work_dir=tmp_path / "w", limits=DemoLimits(concurrency=2))
    real = interp.classify_windows
    both_inside = threading.Barrier(2, timeout=60)      # passes only when two classifications run together

    met = threading.local()

    def meeting(clips, task="emotion", batch_size=32):
        if not getattr(met, "done", False):       # each request's own classification (a what-if reads once more)
            met.done = True
            both_inside.wait()
        return real(clips, task, batch_size)

    monkeypatch.setattr(interp, "classify_windows", meeting)
    results: dict[str, dict] = {}

    def user(name: str, path: Path) -> None:
        results[name] = _last(list(be.run(str(path))))

    threads = [threading.Thread(target=user, args=(n, p)) for n, p in (("a", SAD), ("b", CSV))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not both_inside.broken
    assert results["a"]["error"] is None and results["b"]["error"] is None
    assert set(results["a"]["probabilities"]) == set(interp.label_sets["emotion"]) and be.model_calls == 2


def test_a_request_past_the_time_limit_gets_one_line_and_the_server_keeps_serving(interp, tmp_path, monkeypatch):
    be = DemoBackend(interp, max_new_tokens=3, work_dir=tmp_path / "w", limits=DemoLimits(request_seconds=1.0))
    real = interp.classify_windows
    release = threading.Event()

    def stuck(clips, task="emotion", batch_size=32):
        release.wait(30)
        return real(clips, task, batch_size)

    monkeypatch.setattr(interp, "classify_windows", stuck)
    shown = _last(list(be.run(str(CSV))))
    assert shown["error"] == ("synthetic_kinect_v2_angry_walk.csv: interpreting took longer than the demo's limit "
                              "of 1 s per request; try a shorter clip")
    assert shown["probabilities"] is None and shown["busy"] is False
    release.set()
    monkeypatch.setattr(interp, "classify_windows", real)
    be.limits = DemoLimits()               # (a roomier limit: a busy CI machine may need more than 1 s)
    assert _last(list(be.run(str(CSV))))["error"] is None     # the same backend goes on serving


def test_a_request_the_page_abandons_stops_its_generation(interp, tmp_path, monkeypatch):
    import time

    real = interp.interpret
    tokens = []

    def long_generation(clip, *, on_classified=None, on_text=None, **kwargs):
        """The real classification, then a generation that streams a token every 10 ms for up to 20 s."""
        res = real(clip, explain=False, on_classified=on_classified, **kwargs)
        for _ in range(2000):
            on_text(" word")
            tokens.append(1)
            time.sleep(0.01)
        return res

    monkeypatch.setattr(interp, "interpret", long_generation)
    be = DemoBackend(interp, work_dir=tmp_path / "w")
    run = be.run(str(CSV))
    for update in run:
        if str(update.get("explanation", "")).endswith("▍"):
            break                                  # the explanation is streaming
    run.close()                                    # the user uploads another file / leaves the page
    for _ in range(100):
        if be.active == 0:
            break
        time.sleep(0.1)
    assert be.active == 0 and len(tokens) < 1000, "an abandoned request keeps generating"
    assert list(be.work_dir.iterdir()) == []       # and its files are gone


# ---- hostile files ------------------------------------------------------------------------------------------
def test_an_npz_naming_a_server_file_as_its_layout_is_refused_and_registers_nothing(interp, tmp_path):
    layout_file = tmp_path / "secret" / "x.json"
    layout_file.parent.mkdir()
    spec = get_layout("kinect_v2").to_dict()
    spec["name"] = "injected_rig_demo_test"
    layout_file.write_text(json.dumps(spec))
    hostile = tmp_path / "p.npz"
    np.savez(hostile, positions=np.zeros((2, 1, 3), "f4"), fps=np.array(30.), layout=np.array(str(layout_file)))
    before = list_layouts()
    be = DemoBackend(interp, max_new_tokens=3, work_dir=tmp_path / "w")
    shown = _last(list(be.run(str(hostile))))
    assert shown["error"].startswith("p.npz: layout: the file names a layout that is not one of the demo's built-in")
    assert "\n" not in shown["error"] and str(tmp_path) not in shown["error"] and "x.json" not in shown["error"]
    assert list_layouts() == before and "injected_rig_demo_test" not in list_layouts()


def test_a_20000_joint_npz_is_refused_from_its_header(interp, tmp_path):
    names = [f"j{i}" for i in range(20_000)]
    spec = {"name": "huge", "joints": [{"name": n, "parent": names[i - 1] if i else None} for i, n in enumerate(names)]}
    huge = tmp_path / "huge.npz"
    np.savez_compressed(huge, positions=np.zeros((2, 20_000, 3), "f4"), fps=np.array(30.),
                        layout=np.array(json.dumps(spec)))
    with pytest.raises(ClipLimitError, match=r"^huge\.npz: joints: 20000 joints, the demo accepts skeletons of up "
                                             r"to 1024 joints$"):
        read_upload(huge)
    # the same layout with a 1-joint array: refused from the embedded layout, before any validation runs
    small = tmp_path / "small.npz"
    np.savez_compressed(small, positions=np.zeros((2, 1, 3), "f4"), fps=np.array(30.), layout=np.array(json.dumps(spec)))
    with pytest.raises(ClipLimitError, match=r"^small\.npz: layout: 20000 joints"):
        read_upload(small)
    wide = tmp_path / "wide.csv"
    wide.write_text(",".join(f"j{i}_{a}" for i in range(1100) for a in "xyz") + "\n")
    with pytest.raises(ClipLimitError, match=r"^wide\.csv: joints: 1100 joints"):
        read_upload(wide)


# ---- optional result fields, page words ------------------------------------------------------------------
def test_llm_alone_and_warnings_are_shown_when_the_result_has_them(interp, tmp_path, monkeypatch):
    real = interp.interpret

    def with_fields(*args, **kwargs):
        res = real(*args, **kwargs)
        res.llm_probabilities = {k: 1.0 / len(res.probabilities) for k in res.probabilities}
        res.warnings = ["units unclear: pass --units"]
        return res

    def without_llm(*args, **kwargs):
        res = real(*args, **kwargs)
        res.llm_probabilities = None           # a model whose head alone decides (fusion_weight 1)
        return res

    be = DemoBackend(interp, max_new_tokens=3, work_dir=tmp_path / "w")
    plain = _last(list(be.run(str(CSV))))
    assert plain["warnings"] is None and "LLM alone" in plain["llm_alone"]   # the interpreter gives its own reading
    monkeypatch.setattr(interp, "interpret", without_llm)
    assert _last(list(be.run(str(CSV))))["llm_alone"] is None
    monkeypatch.setattr(interp, "interpret", with_fields)
    shown = _last(list(be.run(str(CSV))))
    assert shown["warnings"] == "⚠ **units unclear: lengths and speeds may be off**"
    assert "LLM alone" in shown["llm_alone"] and "| shown | LLM alone |" in shown["llm_alone"]
    n = len(shown["probabilities"])
    rows = [line.strip("|").split("|") for line in shown["llm_alone"].splitlines()[4:]]
    assert len(rows) == n and all(r[2].strip() == f"{1.0 / n:.0%}" for r in rows)       # the LLM's own column
    assert [r[0].strip() for r in rows] == sorted(shown["probabilities"], key=lambda k: -shown["probabilities"][k])
    res = interp.interpret(synthetic_clip("sad", "kinect_v2", seconds=2.0, seed=3), max_new_tokens=2)
    assert llm_alone_markdown(res).startswith("**LLM alone**")
    clip = synthetic_clip("sad", "kinect_v2", seconds=2.0, seed=3)
    clip.meta["warnings"] = ["units unclear: pass --units", "frame rate assumed"]
    assert warnings_of(res, clip) == ["units unclear: pass --units", "frame rate assumed"]
    assert warnings_markdown([]) is None


def test_page_messages_use_the_page_words_and_no_server_path(tmp_path):
    err = LayoutError(str(tmp_path / "up" / "pose.npy"), "layout",
                      "the NPY array has 17 joints and no layout; pass layout= (--layout) (layouts with 17 joints: "
                      "h36m_17)")
    assert user_message(err) == ("pose.npy: layout: the NPY array has 17 joints and no layout; choose its skeleton "
                                 "layout below (layouts with 17 joints: h36m_17)")
    nan = ValueError(f"{tmp_path}/up/walk.csv: line 4: 3 non-finite (NaN/inf) positions; pass interpolate_gaps=True "
                     "to fill short gaps")
    assert user_message(nan, tmp_path / "up" / "walk.csv") == "walk.csv: line 4: 3 non-finite (NaN/inf) positions"
    leak = OSError(f"cannot read layout file {tmp_path}/secret/x.json (Permission denied)")
    assert str(tmp_path) not in user_message(leak, tmp_path / "p.npz")
    assert scrub_paths("0.62 m/s, 102 steps/min, /srv/models/default_model") == "0.62 m/s, 102 steps/min, default_model"
    save_clip(synthetic_clip("sad", "kinect_v2", seconds=1.0, seed=1), tmp_path / "ok.npz")
    assert read_upload(tmp_path / "ok.npz").layout.name == "kinect_v2"     # an NPZ naming a built-in layout is fine
