"""The web demo without a browser: the Blocks build, the renderer, the tables, errors, limits, JSON export, CLI."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pytest

from eai_llm.cli import build_parser, main
from eai_llm.data.synthetic import synthetic_clip
from eai_llm.demo import (CUE_HEADERS, EVIDENCE_HEADERS, DemoBackend, DemoLimits, ModelHolder,
                          clip_info, cue_rows, evidence_rows, export_json, find_examples, format_cue_value,
                          project_skeleton, read_upload, render_animation, resolve_model_dir, user_message)
from eai_llm.skeleton.errors import ClipError, ClipFormatError, ClipLimitError, LayoutError
from eai_llm.skeleton.io import load_clip, save_clip
from eai_llm.skeleton.layouts import UNIFIED

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "demo" / "examples"
SAD = EXAMPLES / "dataset-1_walk_sad_001.bvh"


@pytest.fixture(scope="module")
def interp(tiny_model):
    from eai_llm.interpreter import EmotionInterpreter

    return EmotionInterpreter.from_pretrained(tiny_model)


@pytest.fixture(scope="module")
def backend(interp, tmp_path_factory) -> DemoBackend:
    return DemoBackend(interp, max_new_tokens=6, work_dir=tmp_path_factory.mktemp("demo-work"), keep_results=3)


def _last(updates: list[dict]) -> dict:
    """Merge a request's updates into what the page finally shows."""
    shown: dict = {}
    for u in updates:
        shown.update(u)
    return shown


# ---- the interface ---------------------------------------------------------------------------------
def test_build_demo_without_launching(interp, tmp_path):
    gr = pytest.importorskip("gradio")
    from eai_llm.demo import build_demo

    demo = build_demo(interp, examples_dir=EXAMPLES)
    assert isinstance(demo, gr.Blocks)
    ids = {getattr(b, "elem_id", None) for b in demo.blocks.values()}
    assert {"eai-upload", "eai-layout", "eai-run", "eai-animation", "eai-probs", "eai-explanation", "eai-evidence",
            "eai-timeline", "eai-cues", "eai-json", "eai-error", "eai-notice", "eai-warnings", "eai-llm-alone",
            "eai-status"} <= ids
    by_id = {getattr(b, "elem_id", None): b for b in demo.blocks.values()}
    for hidden in ("eai-animation", "eai-probs", "eai-explanation", "eai-evidence", "eai-timeline", "eai-json",
                   "eai-error", "eai-notice", "eai-warnings", "eai-llm-alone", "eai-clip"):
        assert by_id[hidden].visible is False, f"{hidden} shows before there is a result"
    layout = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "eai-layout")
    choices = [c[0] if isinstance(c, (tuple, list)) else c for c in layout.choices]
    assert choices[0] == "auto" and {"bandai_namco_22", "kinect_v2", "h36m_17"} <= set(choices)
    evidence = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "eai-evidence")
    assert list(evidence.value["headers"]) == EVIDENCE_HEADERS
    assert demo._queue is not None                       # requests are queued
    assert not getattr(demo, "is_running", False)        # built, not launched
    assert demo.eai_backend.holder.state == "ready"
    # no examples folder: still builds (installed wheel without demo/)
    assert isinstance(build_demo(interp, examples_dir=tmp_path / "none"), gr.Blocks)


def test_model_loads_lazily_once_and_reports_failure(interp):
    calls = []

    def loader():
        calls.append(1)
        return interp

    holder = ModelHolder(loader, name="tiny")
    assert holder.state == "idle" and not calls and "Loading" in holder.status_markdown()
    assert holder.get(timeout=30) is interp and holder.get() is interp and len(calls) == 1
    assert holder.state == "ready" and "Model ready" in holder.status_markdown() and "sad" in holder.status_markdown()
    # the page names the model by its folder name, never by its path on the server
    by_path = ModelHolder(interp)
    assert str(interp.model_dir) not in by_path.status_markdown()
    assert f"`{interp.model_dir.name}`" in by_path.status_markdown()

    def broken():
        raise OSError("weights are corrupt")

    bad = ModelHolder(broken, name="broken-model")
    with pytest.raises(RuntimeError, match="broken-model failed to load: OSError: weights are corrupt"):
        bad.get(timeout=30)
    assert bad.state == "failed" and "weights are corrupt" in bad.status_markdown()
    # a request against a model that failed shows the message and does not raise
    shown = _last(list(DemoBackend(bad).run(str(SAD))))
    assert "failed to load" in shown["error"] and shown["busy"] is False
    with pytest.raises(TypeError):
        ModelHolder(42)


def test_resolve_model_dir(tiny_model, tmp_path):
    assert resolve_model_dir(tiny_model) == tiny_model
    with pytest.raises(FileNotFoundError):
        resolve_model_dir(tmp_path / "missing")
    with pytest.raises(ValueError, match="not a model directory"):
        resolve_model_dir(tmp_path)


# ---- renderer ---------------------------------------------------------------------------------------
def test_render_animation_is_fast_and_capped(tmp_path):
    from PIL import Image

    clip = load_clip(SAD)                                  # 11.6 s at 30 fps
    t0 = time.perf_counter()
    path = render_animation(clip, tmp_path / "sad.gif")
    took = time.perf_counter() - t0
    assert took < 1.5, f"rendering an 11.6 s clip took {took:.2f} s"
    with Image.open(path) as im:
        assert im.format == "GIF" and im.size == (360, 360) and im.is_animated
        n, ms = im.n_frames, im.info["duration"]
    assert n == math.ceil(clip.num_frames / 3) and ms == 100   # 30 fps -> every 3rd frame, real time
    assert n * ms / 1000 == pytest.approx(clip.duration, abs=0.2)
    # a 2-minute clip is capped at max_frames and still plays in about real time
    long = synthetic_clip("happy", "unified", seconds=120.0, fps=30.0, seed=1)
    t0 = time.perf_counter()
    proj = project_skeleton(long, max_frames=150)
    assert len(proj.joints) <= 150 and time.perf_counter() - t0 < 1.0
    assert len(proj.joints) * proj.frame_ms / 1000 == pytest.approx(120.0, rel=0.05)


def test_the_attribution_highlight_lights_the_part_only_while_it_drove_the_reading(tmp_path):
    clip = load_clip(SAD)
    arm = {"part": "left_arm", "joints": ["l_collar", "l_shoulder", "l_elbow", "l_wrist", "l_hand"],
           "start_s": 2.0, "end_s": 3.0}
    proj = project_skeleton(clip, highlight=arm)
    lit_frames = proj.highlight.any(axis=1)
    assert lit_frames.any() and (proj.times[lit_frames] >= 2.0).all() and (proj.times[lit_frames] <= 3.0).all()
    lit_bones = {int(UNIFIED.joint_names.index(n)) for n in arm["joints"]}
    assert {int(c) for c in proj.edges[proj.highlight.any(axis=0)][:, 1]} <= lit_bones
    assert project_skeleton(clip).highlight is None and proj.caption == "left arm"
    assert render_animation(clip, tmp_path / "a.gif", highlight=arm).is_file()


def test_projection_follows_the_body_and_draws_only_present_joints():
    clip = load_clip(SAD)
    proj = project_skeleton(clip, size=300)
    pelvis, head, ankle = (UNIFIED.index[n] for n in ("pelvis", "head", "l_ankle"))
    px = proj.joints[:, pelvis]
    assert np.ptp(px[:, 0]) < 3.0                          # camera follows the pelvis horizontally
    assert (proj.joints[:, head, 1] < proj.joints[:, pelvis, 1]).all()   # head above the pelvis (pixel y down)
    assert (proj.joints[:, ankle, 1] > proj.joints[:, pelvis, 1]).all()
    inside = (proj.joints >= 0) & (proj.joints <= 300)
    assert inside.all()
    # the floor grid slides as the person walks
    assert not np.allclose(proj.grid[0], proj.grid[len(proj.grid) // 2])
    # h36m_17 lacks collars, hands, feet: bones join each present joint to its nearest present ancestor
    h36 = synthetic_clip("sad", "h36m_17", seconds=2.0, seed=3)
    from eai_llm.skeleton.unify import to_unified

    _, mask = to_unified(h36)
    edges = project_skeleton(h36).edges
    assert mask[edges].all() and len(edges) == mask.sum() - 1
    assert not mask[UNIFIED.index["l_collar"]] and UNIFIED.index["l_shoulder"] in edges[:, 1]
    for parent, child in edges:                            # everything skipped in between is missing
        j = UNIFIED.parents[child]
        while j != parent:
            assert not mask[j]
            j = UNIFIED.parents[j]


# ---- tables -------------------------------------------------------------------------------------------
def test_evidence_table_checks_words_against_numbers():
    from eai_llm.explain import verify_claims

    cues = {"head_pitch": 31.0, "walking_speed": 0.62, "arm_swing": 0.5}
    stats = {"head_pitch": {"mean": 9.0, "std": 10.0, "p10": -5.0, "p90": 20.0},
             "walking_speed": {"mean": 1.0, "std": 0.3, "p10": 0.6, "p90": 1.4},
             "arm_swing": {"mean": 0.3, "std": 0.1, "p10": 0.2, "p90": 0.45}}
    checks = verify_claims([("head_pitch", "high"), ("walking_speed", "low"), ("arm_swing", "low"),
                            ("jerk", "high")], cues, stats)
    rows = evidence_rows([c.to_dict() for c in checks])
    assert len(rows) == 4 and all(len(r) == len(EVIDENCE_HEADERS) for r in rows)
    head, speed, swing, jerk = rows
    assert head[1:] == ["head pitch (°)", "31.0°", "-5.0° – 20.0°", "+2.2", "yes"]
    assert speed[2:] == ["0.62 m/s", "0.60 m/s – 1.40 m/s", "-1.3", "yes"]
    assert swing[2] == "0.50 m" and swing[-1] == "no"          # claimed small, measured large
    assert jerk[2] == "not measured" and jerk[-1] == "no"
    assert head[0] and head[0] != "head_pitch"                  # the words the explanation used
    table = cue_rows(cues, stats)
    assert [r[0] for r in table] == ["walking speed (m/s)", "head pitch (°)", "arm swing (m)"]   # registry order
    assert all(len(r) == len(CUE_HEADERS) for r in table) and table[1][3] == "+2.2" and table[1][4]
    assert cue_rows({"jerk": 5.0}, {})[0][2:4] == ["–", "–"]
    assert format_cue_value("stillness_ratio", 0.25) == "0.25" and format_cue_value("cadence", 101.6) == \
        "102 steps/min"
    assert format_cue_value("energy", float("nan")) == "not measured"


# ---- requests, errors, limits ---------------------------------------------------------------------------
def test_a_request_streams_then_shows_everything(backend, interp):
    updates = list(backend.run(str(SAD)))
    labels = interp.label_sets["emotion"]
    streamed = [u["explanation"] for u in updates if str(u.get("explanation", "")).endswith("▍")]
    assert streamed, "the explanation was not streamed"
    shown = _last(updates)
    assert shown["error"] is None and shown["busy"] is False
    assert set(shown["probabilities"]) == set(labels)
    assert Path(shown["animation"]).suffix == ".gif" and Path(shown["animation"]).is_file()
    # the timeline shows the clip's three leading labels (the highest mean probability), not all of them
    top3 = sorted(labels, key=lambda k: -shown["probabilities"][k])[:3]
    assert shown["timeline"] is not None and list(dict.fromkeys(shown["timeline"]["emotion"])) == top3
    assert shown["explanation"] and not shown["explanation"].endswith("▍")
    assert isinstance(shown["evidence"], list) and shown["cues"] and shown["cues"][0][0] == "walking speed (m/s)"
    assert "dataset-1_walk_sad_001.bvh" in shown["clip"] and "bandai_namco_22" in shown["clip"]
    assert set(backend.last_timings) == {"rendered", "classified", "first_text", "explained", "done"}
    text = Path(shown["json"]).read_text()
    doc = json.loads(text)
    assert doc["clip"]["file"] == SAD.name and doc["clip"]["frames"] == 347
    assert doc["interpretation"]["label"] in labels and doc["model"] == interp.model_dir.name
    assert doc["interpretation"]["source"] == SAD.name           # the upload's name, not a server path
    for server_path in (str(ROOT), str(backend.work_dir), str(interp.model_dir)):
        assert server_path not in text
    assert max(shown["probabilities"], key=shown["probabilities"].get) == doc["interpretation"]["label"]
    # issue 12: the explanation's checks, where in the clip (green in a second animation), what would change it
    got = doc["interpretation"]
    assert got["well_formed"] is True and {"attribution", "contrast", "plausible"} <= set(got)
    assert got["attribution"]["parts"] and len(got["attribution"]["drops"]) == len(got["attribution"]["parts"])
    assert "Checked: whole phrases of the cue vocabulary" in shown["explanation"]
    if got["attribution"]["top"]:
        assert "Where in the clip" in shown["explanation"] and shown["animation"].endswith(".attribution.gif")
    if "what_if" in doc:
        assert "What would change the reading" in shown["explanation"]
        assert {e["cue"] for e in doc["what_if"]["edits"]} <= {r["cue"] for r in got["evidence"]}


def test_each_request_classifies_the_clip_once(backend, interp, monkeypatch):
    calls = []
    real = interp.classify_windows

    def counting(clips, task="emotion", batch_size=32):
        calls.append(len(clips))
        return real(clips, task, batch_size)

    monkeypatch.setattr(interp, "classify_windows", counting)
    clip = synthetic_clip("sad", "kinect_v2", seconds=5.0, seed=9)
    early = []
    full = interp.interpret(clip, max_new_tokens=3, on_classified=lambda r: early.append(dict(r.probabilities)))
    assert calls == [1] and early == [full.probabilities]          # the hook fires before the explanation
    calls.clear()
    before = backend.model_calls
    # an upload previews the clip (facts, animation) without running the model
    shown = _last(list(backend.preview(str(SAD))))
    assert shown["error"] is None and Path(shown["animation"]).suffix == ".gif" and SAD.name in shown["clip"]
    assert shown["probabilities"] is None and calls == [] and backend.model_calls == before
    assert _last(list(backend.run(str(SAD), render=False)))["error"] is None
    # Interpret: one classification of the upload, one model call (a what-if reads the edited clip once more)
    assert calls[0] == 1 and len(calls) <= 2 and backend.model_calls == before + 1


def _bad_npy(tmp_path: Path) -> Path:
    path = tmp_path / "pose.npy"
    np.save(path, np.zeros((10, 17, 3), dtype=np.float32))
    return path


@pytest.mark.parametrize("case, expected", [
    ("corrupt", r"^broken\.bvh: line \d+: "),
    ("garbage", r"^noise\.npz: "),
    ("format", r"^notes\.txt: format: unknown file type '\.txt'"),
    ("layout", r"^pose\.npy: (positions: )?17 joints but layout 'kinect_v2' has 25"),
    ("empty", r"^empty\.csv: "),
])
def test_bad_uploads_give_one_line_and_the_server_keeps_serving(backend, tmp_path, case, expected):
    path = {
        "corrupt": lambda: _write(tmp_path / "broken.bvh", "HIERARCHY\nROOT Hips\n{\n  OFFSET 0 0\n"),
        "garbage": lambda: _write(tmp_path / "noise.npz", b"PK\x03\x04" + bytes(range(256)) * 4),
        "format": lambda: _write(tmp_path / "notes.txt", "hello"),
        "layout": lambda: _bad_npy(tmp_path),
        "empty": lambda: _write(tmp_path / "empty.csv", ""),
    }[case]()
    shown = _last(list(backend.run(str(path), "kinect_v2" if case == "layout" else "auto")))
    import re

    assert shown["error"] and re.search(expected, shown["error"]), shown["error"]
    assert "\n" not in shown["error"] and str(tmp_path) not in shown["error"]
    assert shown["probabilities"] is None and shown["json"] is None and shown["busy"] is False
    # the next good request still works
    assert _last(list(backend.run(str(EXAMPLES / "synthetic_kinect_v2_angry_walk.csv"))))["error"] is None


def _write(path: Path, content) -> Path:
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def test_limits_are_enforced_and_described(interp, tmp_path):
    limits = DemoLimits(max_upload_mb=0.1, max_seconds=5.0)
    assert limits.describe() == "files up to 0.1 MB, clips up to 5 s"
    assert DemoLimits().describe() == "files up to 20 MB, clips up to 2 minutes"
    assert DemoLimits().max_bytes == 20 * 1024 * 1024
    with pytest.raises(ValueError):
        DemoLimits(max_seconds=0)
    with pytest.raises(ClipLimitError, match=r"dataset-1_walk_sad_001\.bvh: file size: 0\.4 MB, the demo accepts "
                                             r"files up to 0\.1 MB"):
        read_upload(SAD, limits=limits)
    long = tmp_path / "long.npz"
    save_clip(synthetic_clip("tired", "kinect_v2", seconds=6.0, seed=2), long)
    with pytest.raises(ClipLimitError, match=r"long\.npz: duration: 6\.0 s, the demo accepts clips up to 5 s"):
        read_upload(long, limits=limits)
    assert read_upload(long, limits=DemoLimits(max_seconds=6.5)).num_frames == 180
    shown = _last(list(DemoBackend(interp, limits=limits, work_dir=tmp_path / "w").run(str(long))))
    assert shown["error"] == "long.npz: duration: 6.0 s, the demo accepts clips up to 5 s"
    assert _last(list(DemoBackend(interp).run(None)))["error"].startswith("No clip")


def test_layout_choice_and_examples(backend):
    examples = find_examples(EXAMPLES)
    names = [Path(p).name for p, _, _ in examples]
    assert SAD.name in names and any(n.endswith(".csv") for n in names) and any(n.endswith(".npy") for n in names)
    assert names[0].startswith("dataset-1_")                     # real clips first
    attribution = (EXAMPLES / "ATTRIBUTION.md").read_text()
    for path, layout, label in examples:
        assert read_upload(path, layout).num_frames > 0          # every example loads with its layout choice
        if Path(path).name.startswith("dataset-1_"):
            assert Path(path).name in attribution and "real mocap" in label
        else:
            assert "synthetic" in label and Path(path).name in attribution
    npy = next(e for e in examples if e[0].endswith(".npy"))
    assert npy[1] == "h36m_17"
    with pytest.raises(LayoutError):
        read_upload(npy[0], "auto")                                # NPY says nothing about its layout
    assert find_examples(None) == []
    shown = _last(list(backend.run(npy[0], "h36m_17")))
    assert shown["error"] is None and "h36m_17" in shown["clip"]


def test_user_message_names_the_upload_not_the_temp_path(tmp_path):
    tmp = tmp_path / "gradio" / "abc123" / "walk.bvh"
    err = ClipFormatError(str(tmp), "line 3", "expected 'ROOT'")
    assert user_message(err, tmp) == "walk.bvh: line 3: expected 'ROOT'"
    assert user_message(FileNotFoundError(2, "x", str(tmp)), tmp) == "walk.bvh: file not found"
    assert user_message(ValueError(f"{tmp}: bad"), tmp) == "walk.bvh: bad"
    assert user_message(KeyError("boom"), tmp).startswith("walk.bvh: internal error (KeyError")
    assert isinstance(err, ClipError)


def test_json_export_is_strict_json(interp, tmp_path):
    clip = synthetic_clip("sad", "kinect_v2", seconds=3.0, seed=5)
    res = interp.interpret(clip, max_new_tokens=4)
    res.all_cues["jerk"] = float("nan")                           # never written as NaN
    path = export_json(res, clip_info(clip, "sad.npz"), tmp_path / "out.json", model="tiny")
    text = path.read_text()
    assert "NaN" not in text
    doc = json.loads(text)
    assert doc["interpretation"]["all_cues"]["jerk"] is None and doc["model"] == "tiny"
    assert doc["clip"] == {"file": "sad.npz", "layout": "kinect_v2", "joints": 25, "frames": 90, "fps": 30.0,
                           "duration_s": 3.0, "units": "m", "units_assumed": False, "fps_assumed": False}
    assert doc["interpretation"]["probabilities"] == pytest.approx(res.probabilities)
    assert doc["eai_llm_version"]


def test_results_folder_stays_bounded(backend, tmp_path):
    short = save_clip(synthetic_clip("normal", "unified", seconds=1.5, seed=4), tmp_path / "short.npz")
    for _ in range(4):
        assert _last(list(backend.run(str(short))))["error"] is None
    assert len([p for p in backend.work_dir.iterdir() if p.is_dir()]) == 3     # keep_results=3


def test_request_files_are_removed_and_the_work_folder_goes_at_close(interp, tmp_path):
    be = DemoBackend(interp, max_new_tokens=3)                  # its own temporary work folder, nothing kept
    short = save_clip(synthetic_clip("normal", "unified", seconds=1.5, seed=4), tmp_path / "short.npz")
    shown = _last(list(be.preview(str(short))))
    assert shown["animation"] and list(be.work_dir.iterdir()) == []   # removed once the request ended
    assert _last(list(be.run(str(short))))["json"] and list(be.work_dir.iterdir()) == []
    work = be.work_dir
    assert work.is_dir()
    be.close()
    assert not work.exists()
    be.close()                                                    # idempotent (demo.close() and atexit both call it)


# ---- command line --------------------------------------------------------------------------------------
def test_cli_demo_command(tmp_path, capsys):
    sub = next(a for a in build_parser()._actions if getattr(a, "choices", None) and "demo" in a.choices)
    opts = {o for a in sub.choices["demo"]._actions for o in a.option_strings}
    assert {"--model", "--host", "--port", "--max-upload-mb", "--max-seconds", "--concurrency",
            "--request-seconds"} <= opts
    defaults = sub.choices["demo"].parse_args([])
    assert defaults.host == "127.0.0.1" and defaults.port == 7860
    assert main(["demo", "--model", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {tmp_path / 'nope'}: no such model directory"
    assert main(["demo", "--model", str(tmp_path)]) == 2
    assert "not a model directory" in capsys.readouterr().err
    assert main(["demo", "--concurrency", "0"]) == 2          # refused before anything loads
    assert capsys.readouterr().err.strip() == ("error: demo: demo limits must be at least 1, got 1024 joints and 0 "
                                               "requests at once")
