"""NPZ / NPY / CSV clips: round trips, foreign arrays, column orders, atomic saves, format sniffing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bvh_reference import write
from eai_llm.skeleton.clip import SkeletonClip
from eai_llm.skeleton.errors import ClipFormatError, ClipValueError, ClipWriteError, LayoutError
from eai_llm.skeleton.io import load_clip, save_clip
from eai_llm.skeleton.layouts import Layout, get_layout, list_layouts


# ---- NPZ / NPY / CSV -----------------------------------------------------------------------------
def test_npz_round_trip_builtin_layout(tmp_path: Path, tiny_bvh) -> None:
    path, _, _ = tiny_bvh
    lay = get_layout("emotion_gait_16")
    rng = np.random.default_rng(0)
    clip = SkeletonClip(rng.normal(size=(7, 16, 3)).astype(np.float32), 25.0, lay, "sad",
                        {"source": "x.bvh", "format": "bvh", "units": "cm", "subject": 3, "tags": ["a", "b"]})
    out = save_clip(clip, tmp_path / "clip.npz")
    back = load_clip(out)
    np.testing.assert_array_equal(back.positions, clip.positions)
    assert back.layout is lay and back.fps == 25.0 and back.label == "sad"
    assert back.meta["subject"] == 3 and back.meta["tags"] == ["a", "b"]
    assert back.meta["source"] == str(out) and back.meta["format"] == "npz" and back.meta["units"] == "m"
    assert back.meta["origin_source"] == "x.bvh" and back.meta["origin_units"] == "cm"
    with np.load(out, allow_pickle=False) as z:  # the documented format
        assert set(z.files) == {"positions", "fps", "layout", "label", "meta"}
        assert z["positions"].dtype == np.float32 and json.loads(str(z["layout"]))["name"] == "emotion_gait_16"
    # a BVH converted and read back is identical
    bvh = load_clip(path)
    again = load_clip(save_clip(bvh, tmp_path / "tiny.npz"))
    np.testing.assert_array_equal(again.positions, bvh.positions)
    assert again.layout == bvh.layout and again.meta["origin_format"] == "bvh"


def test_npz_round_trip_custom_layout(tmp_path: Path) -> None:
    lay = Layout("my_rig", ("root", "spine", "head", "l_arm", "r_arm"), (-1, 0, 1, 1, 1),
                 {"root": "pelvis", "head": "head", "l_arm": "l_shoulder"}, "test rig")
    clip = SkeletonClip(np.arange(2 * 5 * 3, dtype=np.float32).reshape(2, 5, 3) / 10, 12.5, lay)
    back = load_clip(save_clip(clip, tmp_path / "custom.npz"))
    assert back.layout == lay and back.layout.to_unified == lay.to_unified and back.label is None
    assert "my_rig" not in list_layouts()
    np.testing.assert_array_equal(back.positions, clip.positions)


def test_save_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lay = get_layout("h36m_17")
    clip = SkeletonClip(np.zeros((3, 17, 3), np.float32), 30, lay)
    target = save_clip(clip, tmp_path / "keep.npz")
    before = target.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez_compressed", boom)
    with pytest.raises(ClipWriteError, match=r"keep\.npz: cannot write \(disk full\)"):
        save_clip(clip.replace(fps=60.0), target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.npz"]  # no temp file left behind
    with pytest.raises(ValueError, match="must end in .npz"):
        save_clip(clip, tmp_path / "x.csv")


def test_foreign_npz_and_npy(tmp_path: Path) -> None:
    arr = np.random.default_rng(1).normal(size=(9, 17, 3)).astype(np.float32)
    np.savez(tmp_path / "est.npz", positions=arr)
    with pytest.raises(LayoutError, match=r"est\.npz: layout: .*17 joints.*h36m_17"):
        load_clip(tmp_path / "est.npz")
    clip = load_clip(tmp_path / "est.npz", layout="h36m_17")
    np.testing.assert_array_equal(clip.positions, arr)
    assert clip.fps == 30.0 and clip.meta["fps_assumed"] and clip.meta["units_assumed"]
    np.save(tmp_path / "est.npy", arr)
    with pytest.raises(LayoutError, match=r"est\.npy: layout: the NPY array has 17 joints.*h36m_17"):
        load_clip(tmp_path / "est.npy")
    clip = load_clip(tmp_path / "est.npy", layout="h36m_17", units="cm", fps=50)
    np.testing.assert_allclose(clip.positions, arr * 0.01, rtol=1e-6)
    assert clip.fps == 50.0 and clip.meta["units"] == "cm" and clip.meta["format"] == "npy"
    with pytest.raises(ClipValueError, match=r"est\.npy: positions: 17 joints but layout 'kinect_v2' has 25.*h36m_17"):
        load_clip(tmp_path / "est.npy", layout="kinect_v2")
    arr[4, 2, 1] = np.nan
    np.save(tmp_path / "gap.npy", arr)
    with pytest.raises(ClipValueError, match=r"gap\.npy: frame 4, joint 'RKnee'"):
        load_clip(tmp_path / "gap.npy", layout="h36m_17")
    filled = load_clip(tmp_path / "gap.npy", layout="h36m_17", interpolate_gaps=1)
    assert filled.meta["interpolated_frames"] == 1


def _kinect_csv(path: Path, arr: np.ndarray, lay: Layout, *, shuffle: int | None, time_col: str | None,
                times: np.ndarray | None = None) -> Path:
    cols = [f"{n}_{a}" for n in lay.joint_names for a in "xyz"]
    data = arr.reshape(arr.shape[0], -1)
    order = np.arange(len(cols))
    if shuffle is not None:
        np.random.default_rng(shuffle).shuffle(order)
    header = [cols[i] for i in order]
    rows = [[f"{v:.7g}" for v in r[order]] for r in data]
    if time_col:
        header.insert(0, time_col)
        for r, t in zip(rows, times):
            r.insert(0, f"{t:.6f}")
    path.write_text(",".join(header) + "\n" + "\n".join(",".join(r) for r in rows) + "\n")
    return path


def test_csv_any_column_order_and_time_column(tmp_path: Path) -> None:
    lay = get_layout("kinect_v2")
    arr = np.random.default_rng(2).normal(size=(6, 25, 3)).astype(np.float32)
    path = _kinect_csv(tmp_path / "k.csv", arr, lay, shuffle=7, time_col="timestamp", times=np.arange(6) / 15 + 3.0)
    clip = load_clip(path)
    assert clip.layout is lay and clip.fps == 15.0 and clip.meta["time_units"] == "s"
    np.testing.assert_allclose(clip.positions, arr, rtol=1e-6, atol=1e-6)
    assert load_clip(path, fps=30).fps == 30.0
    ms = _kinect_csv(tmp_path / "ms.csv", arr, lay, shuffle=None, time_col="time", times=np.arange(6) * 33.333333)
    assert load_clip(ms).fps == 30.0
    plain = _kinect_csv(tmp_path / "plain.CSV", arr, lay, shuffle=None, time_col="frame", times=np.arange(6))
    clip = load_clip(plain)
    assert clip.fps == 30.0 and clip.meta["fps_assumed"] is True


def test_csv_bad_cells_and_unknown_columns(tmp_path: Path) -> None:
    lay = get_layout("kinect_v2")
    arr = np.random.default_rng(3).normal(size=(5, 25, 3)).astype(np.float32)
    path = _kinect_csv(tmp_path / "bad.csv", arr, lay, shuffle=None, time_col=None)
    lines = path.read_text().splitlines()
    cells = lines[3].split(",")
    cells[4] = "abc"
    lines[3] = ",".join(cells)
    write(tmp_path / "bad.csv", "\n".join(lines) + "\n")
    with pytest.raises(ClipFormatError, match=r"bad\.csv: line 4, column 5 \('SpineMid_y'\): 'abc' is not a number"):
        load_clip(tmp_path / "bad.csv")
    cells[4] = ""
    lines[3] = ",".join(cells)
    write(tmp_path / "gap.csv", "\n".join(lines) + "\n")
    with pytest.raises(ClipValueError, match=r"gap\.csv: line 4, joint 'SpineMid'"):
        load_clip(tmp_path / "gap.csv")
    assert load_clip(tmp_path / "gap.csv", interpolate_gaps=1).meta["interpolated_frames"] == 1
    write(tmp_path / "odd.csv", "frame,Foo_x,Foo_y,Foo_z,Bar_x,Bar_y,Bar_z\n0,1,2,3,4,5,6\n")
    with pytest.raises(LayoutError, match=r"odd\.csv: columns: no registered layout has the joints Foo, Bar"):
        load_clip(tmp_path / "odd.csv")


def test_format_sniffing(tmp_path: Path, tiny_bvh) -> None:
    path, _, _ = tiny_bvh
    other = write(tmp_path / "clip.mocap", path.read_bytes())
    upper = write(tmp_path / "CLIP.BVH", path.read_bytes())
    ref = load_clip(path)
    assert load_clip(other).meta["format"] == "bvh" and load_clip(upper).meta["format"] == "bvh"
    npz = save_clip(ref, tmp_path / "c.npz")
    renamed = write(tmp_path / "c.dat", npz.read_bytes())
    np.testing.assert_array_equal(load_clip(renamed).positions, ref.positions)
    np.save(tmp_path / "a.npy", np.zeros((2, 17, 3)))
    sniffed = load_clip(write(tmp_path / "a.bin", (tmp_path / "a.npy").read_bytes()), layout="h36m_17")
    assert sniffed.meta["format"] == "npy"
