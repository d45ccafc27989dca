"""Window datasets: sources, columns, masks, cues, cache, grouped splits, mixtures (synthetic + real data)."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import eai_llm.data.datasets as D
from eai_llm.data.datasets import (
    EMOTION_LABELS, ClipRecord, build_window_dataset, cache_key, group_split, label_set,
    leave_one_group_out, mix_datasets, records_from_bandai, records_from_folders, records_from_manifest,
    window_arrays,
)
from eai_llm.data.synthetic import synthetic_clip
from eai_llm.skeleton.clip import SkeletonClip
from eai_llm.skeleton.cues import CUES
from eai_llm.skeleton.errors import ClipError, ClipFormatError
from eai_llm.skeleton.layouts import UNIFIED
from eai_llm.skeleton.unify import make_windows, normalise, resample, to_unified

io = pytest.importorskip("eai_llm.skeleton.io", reason="eai_llm.skeleton.io (load_clip/save_clip) not available yet")

FPS, WINDOW, STRIDE = 20.0, 32, 16
# (label, group, seconds, seed, layout): 2 groups x 3 labels, one short clip (padded), one h36m clip (joint mask)
CLIPS = [
    ("sad", "alice", 4.0, 1, "unified"), ("sad", "bob", 3.0, 2, "unified"),
    ("happy", "alice", 4.0, 3, "unified"), ("happy", "bob", 3.0, 4, "h36m_17"),
    ("angry", "alice", 1.0, 5, "unified"), ("angry", "bob", 3.0, 6, "unified"),
]


@pytest.fixture(scope="module")
def clip_tree(tmp_path_factory) -> Path:
    """root/<label>/<group>__<seed>.npz plus root/manifest.csv (paths relative to it)."""
    root = tmp_path_factory.mktemp("clips")
    lines = ["path,label,group"]
    for label, group, seconds, seed, layout in CLIPS:
        clip = synthetic_clip(label, layout, seconds=seconds, fps=30.0, seed=seed)
        (root / label).mkdir(exist_ok=True)
        io.save_clip(clip, root / label / f"{group}__{seed}.npz")
        lines.append(f"{label}/{group}__{seed}.npz,{label},{group}")
    (root / "manifest.csv").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def window_ds(clip_tree):
    return build_window_dataset(records_from_folders(clip_tree), fps=FPS, window=WINDOW, stride=STRIDE,
                                progress=False)


def _rows(ds, column):
    return ds.select_columns([column]).with_format("arrow")[:][column].to_pylist()


# ---- sources ---------------------------------------------------------------------------------

def test_records_from_folders_labels_groups_ids(clip_tree, tmp_path):
    recs = records_from_folders(clip_tree)
    assert len(recs) == len(CLIPS)
    assert Counter(r.label for r in recs) == Counter(c[0] for c in CLIPS)
    assert {r.group for r in recs} == {"alice", "bob"}  # derived from "<group>__<rest>" stems
    assert len({r.clip_id for r in recs}) == len(recs)
    assert all(Path(r.path).is_absolute() and r.task == "emotion" for r in recs)
    # a file one folder deeper takes the folder's name; a plain stem is its own group
    (tmp_path / "sub" / "sad" / "carol").mkdir(parents=True)
    shutil.copy(recs[0].path, tmp_path / "sub" / "sad" / "carol" / "take1.npz")
    shutil.copy(recs[0].path, tmp_path / "sub" / "sad" / "plain.npz")
    (tmp_path / "sub" / "sad" / "notes.txt").write_text("ignored")
    sub = records_from_folders(tmp_path / "sub")
    assert sorted((r.group, r.clip_id) for r in sub) == [("carol", "sad/carol/take1"), ("plain", "sad/plain")]
    with pytest.raises(ClipFormatError, match="no clip files"):
        records_from_folders(tmp_path / "sub" / "sad" / "carol")


def test_records_from_manifest_matches_folders(clip_tree):
    man = records_from_manifest(clip_tree / "manifest.csv")
    folders = records_from_folders(clip_tree)
    assert sorted((r.path, r.label, r.group) for r in man) == sorted((r.path, r.label, r.group) for r in folders)


@pytest.mark.parametrize("text, message", [
    ("file,label\na.npz,sad\n", "line 1: missing column 'path'"),
    ("path,group\na.npz,x\n", "missing column 'label'"),
    ("path,label\nsad/alice__1.npz,sad\nsad/missing.npz,sad\n", "line 3: clip file 'sad/missing.npz' not found"),
    ("path,label\nsad/alice__1.npz,\n", "line 2: empty 'label'"),
    ("path,label\nsad/alice__1.npz,sad\nsad/alice__1.npz,sad\n", "line 3: .*already listed on line 2"),
    ("path,label\n", "no rows"),
])
def test_bad_manifest_errors(clip_tree, text, message):
    bad = clip_tree / "bad.csv"
    bad.write_text(text)
    with pytest.raises(ClipFormatError, match=message) as info:
        records_from_manifest(bad)
    assert str(info.value).startswith(str(bad)) and "\n" not in str(info.value)


# ---- building --------------------------------------------------------------------------------

def test_columns_shapes_dtypes(window_ds):
    from datasets import Array3D

    ds = window_ds
    assert ds.column_names == ["clip_id", "path", "label", "group", "task", "source_layout", "window_index",
                               "start", "valid_frames", "positions", "frame_mask", "joint_mask", "cues", "clip_cues"]
    assert isinstance(ds.features["positions"], Array3D)
    arrays = window_arrays(ds)
    assert arrays["positions"].shape == (len(ds), WINDOW, 23, 3) and arrays["positions"].dtype == np.float32
    assert arrays["frame_mask"].shape == (len(ds), WINDOW) and arrays["frame_mask"].dtype == bool
    assert arrays["joint_mask"].shape == (len(ds), 23) and arrays["joint_mask"].dtype == bool
    assert np.isfinite(arrays["positions"]).all()
    # the documented fast path gives the same array; a split via indices too
    np_ds = ds.with_format("numpy")
    np.testing.assert_array_equal(np_ds[:]["positions"], arrays["positions"])
    idx = np.array([3, 0, 2])
    np.testing.assert_array_equal(window_arrays(ds, idx)["positions"], arrays["positions"][idx])
    assert set(_rows(ds, "source_layout")) == {"unified", "h36m_17"}
    empty = window_arrays(ds, [], columns=("positions", "frame_mask", "start"))
    assert empty["positions"].shape == (0, WINDOW, 23, 3) and empty["frame_mask"].shape == (0, WINDOW)
    assert empty["frame_mask"].dtype == bool and empty["start"].dtype.kind == "i"


def test_windows_match_pipeline(window_ds):
    ds = window_ds
    ids = _rows(ds, "clip_id")
    arrays = window_arrays(ds, columns=("positions", "frame_mask", "start", "window_index", "path"))
    for cid in sorted(set(ids)):
        rows = np.flatnonzero(np.array(ids) == cid)
        unified, mask = to_unified(io.load_clip(arrays["path"][rows[0]]))
        wins, fmask, starts = make_windows(normalise(resample(unified, FPS), joint_mask=mask).positions, WINDOW,
                                           STRIDE)
        assert len(rows) == len(wins)
        np.testing.assert_array_equal(arrays["window_index"][rows], np.arange(len(wins)))
        np.testing.assert_array_equal(arrays["start"][rows], starts)
        np.testing.assert_array_equal(arrays["frame_mask"][rows], fmask)
        np.testing.assert_allclose(arrays["positions"][rows], wins, atol=1e-6)
    assert len(ds) > len(set(ids))  # some clips give several windows


def test_short_clip_padding_and_joint_mask(window_ds):
    ds = window_ds
    labels, groups = _rows(ds, "label"), _rows(ds, "group")
    short = [i for i, (l, g) in enumerate(zip(labels, groups)) if (l, g) == ("angry", "alice")]
    assert len(short) == 1  # 1 s at 20 fps = 20 frames < WINDOW: one padded window
    row = ds.with_format("numpy")[short[0]]
    assert row["valid_frames"] == 20
    np.testing.assert_array_equal(row["frame_mask"], np.arange(WINDOW) < 20)
    np.testing.assert_array_equal(row["positions"][20:], np.repeat(row["positions"][19:20], WINDOW - 20, axis=0))
    masks = window_arrays(ds, columns=("joint_mask", "source_layout"))
    h36m = masks["source_layout"] == "h36m_17"
    assert masks["joint_mask"][~h36m].all()
    assert (~masks["joint_mask"][h36m]).any() and masks["joint_mask"][h36m, UNIFIED.index["pelvis"]].all()


def test_cues_json_tracks_synthetic_speed(window_ds):
    ds = window_ds
    # the generator is deterministic: the speed it walked at, per clip id
    speeds = {f"{l}/{g}__{seed}": synthetic_clip(l, lay, seconds=s, seed=seed).meta["params"]["speed"]
              for l, g, s, seed, lay in CLIPS}
    by_label: dict[str, list[float]] = {}
    for cid, label, cues, clip_cues, valid in zip(_rows(ds, "clip_id"), _rows(ds, "label"), _rows(ds, "cues"),
                                                 _rows(ds, "clip_cues"), _rows(ds, "valid_frames")):
        cues, clip_cues = json.loads(cues), json.loads(clip_cues)
        assert set(cues) <= set(CUES) and set(clip_cues) <= set(CUES)
        assert all(isinstance(v, float) and np.isfinite(v) for v in cues.values())
        if valid >= 20:  # >= 1 s of walking
            assert cues["walking_speed"] == pytest.approx(speeds[cid], rel=0.15)
            by_label.setdefault(label, []).append(cues["walking_speed"])
        assert clip_cues["walking_speed"] == pytest.approx(speeds[cid], rel=0.15)
    assert max(by_label["sad"]) < min(by_label["happy"])


def test_cues_respect_missing_joints(window_ds):
    """Window cues are measured in the source layout: h36m has no collars, so no shoulder_slump."""
    from eai_llm.skeleton.cues import kinematic_cues

    arrays = window_arrays(window_ds, columns=("source_layout", "path", "start", "valid_frames", "cues"))
    rows = np.flatnonzero(arrays["source_layout"] == "h36m_17")
    assert len(rows)
    metric = resample(io.load_clip(arrays["path"][rows[0]]), FPS)
    for r in rows:
        cues = json.loads(arrays["cues"][r])
        assert "shoulder_slump" not in cues and "walking_speed" in cues
        s, v = int(arrays["start"][r]), int(arrays["valid_frames"][r])
        expected = kinematic_cues(SkeletonClip(metric.positions[s:s + v], FPS, metric.layout))
        assert cues == pytest.approx(expected)
    unified_rows = np.flatnonzero(arrays["source_layout"] == "unified")
    assert any("shoulder_slump" in json.loads(arrays["cues"][r]) for r in unified_rows)


def test_cache_hit_and_rebuild_on_change(clip_tree, tmp_path, monkeypatch):
    loads = []
    real = D._load_clip
    monkeypatch.setattr(D, "_load_clip", lambda path, layout: loads.append(path) or real(path, layout))
    recs = records_from_manifest(clip_tree / "manifest.csv")
    kw = dict(fps=FPS, window=WINDOW, stride=STRIDE, cache_dir=tmp_path / "cache", progress=False)

    t0 = time.perf_counter()
    first = build_window_dataset(recs, **kw)
    t_build = time.perf_counter() - t0
    assert len(loads) == len(recs)
    t0 = time.perf_counter()
    second = build_window_dataset(recs, **kw)
    t_hit = time.perf_counter() - t0
    assert len(loads) == len(recs)  # no clip loaded again
    assert t_hit < t_build
    assert first.to_dict() == second.to_dict()
    entries = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert entries == [cache_key(recs, fps=FPS, window=WINDOW, stride=STRIDE)]

    # touching one file changes the key and rebuilds; other parameters change it too
    st = os.stat(recs[0].path)
    os.utime(recs[0].path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    third = build_window_dataset(recs, **kw)
    assert len(loads) == 2 * len(recs)
    assert len(list((tmp_path / "cache").iterdir())) == 2
    assert third.to_dict() == first.to_dict()
    assert cache_key(recs, fps=FPS, window=WINDOW, stride=STRIDE) != cache_key(recs, fps=FPS, window=WINDOW, stride=8)


def test_bad_clip_raises_leaves_no_cache_or_is_skipped(clip_tree, tmp_path):
    bad = tmp_path / "sad" / "broken.npz"
    bad.parent.mkdir()
    bad.write_bytes(b"not a zip file")
    recs = records_from_manifest(clip_tree / "manifest.csv")[:2] + [ClipRecord(str(bad), "sad", None, "emotion", "broken")]
    cache = tmp_path / "cache"
    with pytest.raises(ClipError) as info:
        build_window_dataset(recs, fps=FPS, window=WINDOW, stride=STRIDE, cache_dir=cache, progress=False)
    assert "broken.npz" in str(info.value)
    assert not cache.exists() or list(cache.iterdir()) == []  # no half-written cache
    with pytest.warns(UserWarning, match="skipping clip broken"):
        ds = build_window_dataset(recs, fps=FPS, window=WINDOW, stride=STRIDE, progress=False, skip_bad=True)
    assert "broken" not in set(_rows(ds, "clip_id")) and len(set(_rows(ds, "clip_id"))) == 2


def test_duplicate_clip_ids_refused(clip_tree):
    rec = records_from_manifest(clip_tree / "manifest.csv")[0]
    with pytest.raises(ValueError, match="unique"):
        build_window_dataset([rec, rec], progress=False)


# ---- splits, mixtures, labels ------------------------------------------------------------------

def test_leave_one_group_out_no_leakage(window_ds):
    ds = window_ds
    groups, ids = np.array(_rows(ds, "group")), np.array(_rows(ds, "clip_id"))
    folds = list(leave_one_group_out(ds))
    assert [f[0] for f in folds] == ["alice", "bob"]
    for held, train, test in folds:
        assert len(train) and len(test)
        assert set(groups[test]) == {held} and held not in set(groups[train])
        assert not set(ids[train]) & set(ids[test])
        np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(len(ds)))
    train, test = group_split(ds, ["bob"])
    np.testing.assert_array_equal(test, folds[1][2])
    with pytest.raises(ValueError, match="unknown groups"):
        group_split(ds, "carol")
    with pytest.raises(ValueError, match="unknown groups"):
        list(leave_one_group_out(ds, ["carol"]))


def test_label_set_orders(window_ds):
    assert label_set(window_ds) == [l for l in EMOTION_LABELS if l in {"sad", "happy", "angry"}]
    style = window_ds.map(lambda r: {"task": "style", "label": r["label"][::-1]}, remove_columns=["positions"])
    assert label_set(style) == sorted({"das", "yppah", "yrgna"})


def test_mix_datasets_weighted_and_reproducible():
    from datasets import Dataset

    a, b, c = (Dataset.from_dict({"x": list(range(n))}) for n in (10, 3, 5))
    plan = mix_datasets({"a": a, "b": b, "c": c}, {"a": 3.0, "b": 1.0}, 400, seed=7)
    assert plan.shape == (400, 2) and plan.dtype == np.int64
    counts = np.bincount(plan[:, 0], minlength=3)
    assert counts.tolist() == [300, 100, 0]
    for i, size in ((0, 10), (1, 3)):
        rows = plan[plan[:, 0] == i, 1]
        assert rows.min() >= 0 and rows.max() < size
        hits = np.bincount(rows, minlength=size)
        assert hits.max() - hits.min() <= 1  # every row once per epoch before any repeats
    np.testing.assert_array_equal(plan, mix_datasets({"a": a, "b": b, "c": c}, {"a": 3.0, "b": 1.0}, 400, seed=7))
    assert not np.array_equal(plan, mix_datasets({"a": a, "b": b, "c": c}, {"a": 3.0, "b": 1.0}, 400, seed=8))
    with pytest.raises(ValueError, match="unknown"):
        mix_datasets({"a": a}, {"z": 1.0}, 10, seed=0)
    with pytest.raises(ValueError, match="not all 0"):
        mix_datasets({"a": a}, {"a": 0.0}, 10, seed=0)


# ---- Bandai Namco ------------------------------------------------------------------------------

def _fake_bandai(root: Path, style_index: int) -> Path:
    (root / "cfg").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "cfg" / "content_label.txt").write_text("dataset-1_walk\ndataset-1_run\n")
    (root / "cfg" / "style_label.txt").write_text("dataset-1_normal\ndataset-1_happy\ndataset-1_sad\n")
    (root / "data" / "dataset-1_run_sad_001.bvh").write_text("HIERARCHY\n")
    (root / "data" / "dataset-1_run_sad_001.json").write_text(json.dumps({"content": 1, "style": style_index}))
    return root


def test_bandai_json_cross_check(tmp_path):
    ok = records_from_bandai(_fake_bandai(tmp_path / "ok", 2) / "data")
    assert [(r.label, r.group, r.clip_id) for r in ok] == [("sad", "run", "dataset-1_run_sad_001")]
    with pytest.raises(ClipFormatError, match="field 'style': index 1 means 'happy' but the file name says 'sad'"):
        records_from_bandai(_fake_bandai(tmp_path / "bad", 1))
    with pytest.raises(ValueError, match="task"):
        records_from_bandai(tmp_path / "ok", task="gait")


def test_real_bandai_records(real_data):
    recs = records_from_bandai(real_data)
    assert recs == records_from_bandai(real_data / "data")
    counts = Counter(r.label for r in recs)
    assert set(counts) == set(EMOTION_LABELS)
    assert counts["normal"] == 18 and all(counts[l] == 9 for l in EMOTION_LABELS if l != "normal")
    groups = {r.group for r in recs}
    assert {"walk", "run", "dash", "bye", "byebye", "guide", "walk-back", "walk-left"} <= groups
    assert all(r.clip_id in Path(r.path).stem and f"_{r.group}_" in Path(r.path).name for r in recs)
    balanced = records_from_bandai(real_data, balance_normal=True)
    bal_counts = Counter(r.label for r in balanced)
    assert set(bal_counts.values()) == {9}
    assert {r.group for r in balanced if r.label == "normal"} == {r.group for r in balanced if r.label == "sad"}
    style = records_from_bandai(real_data, task="style")
    assert sorted(Counter(r.label for r in style)) == sorted(D.STYLE_LABELS)
    assert not {r.clip_id for r in style} & {r.clip_id for r in recs}


def test_real_bandai_small_build(real_data):
    recs = [r for r in records_from_bandai(real_data) if r.group == "walk"][:3]
    assert len(recs) == 3
    ds = build_window_dataset(recs, progress=False)  # defaults: 20 fps, window 64, stride 32
    arrays = window_arrays(ds, columns=("positions", "joint_mask", "frame_mask", "source_layout"))
    assert len(ds) >= 3 and set(arrays["source_layout"]) == {"bandai_namco_22"}
    assert np.isfinite(arrays["positions"]).all()
    assert arrays["joint_mask"].sum(axis=1).tolist() == [21] * len(ds)
    heights = arrays["positions"][..., 1][arrays["frame_mask"]]
    assert 0.6 < heights.max() < 1.3  # unit body height
    speeds = [json.loads(c)["walking_speed"] for c in _rows(ds, "cues")]
    assert all(0.2 < s < 2.5 for s in speeds)
