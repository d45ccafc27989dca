"""Regression tests for issue 15 (readers): layout injection, limits, one-line errors, unclear units.

Each test fails on the readers before the fix (noted per test) and passes now.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT
from eai_llm.cli import main
from eai_llm.skeleton.clip import SkeletonClip
from eai_llm.skeleton.cues import METRIC_CUES, kinematic_cues, metric_scale
from eai_llm.skeleton.errors import ClipError, ClipFormatError, ClipLimitError, ClipWriteError, LayoutError
from eai_llm.skeleton.io import load_clip, save_clip
from eai_llm.skeleton.layouts import MAX_JOINTS, Layout, get_layout, list_layouts

EXAMPLES = ROOT / "demo" / "examples"


def one_line(err: pytest.ExceptionInfo, path: Path) -> str:
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg, msg
    return msg


# ---- a small BVH writer: a humanoid whose size and walking speed are parameters ---------------
_RIG = [  # (name, parent, offset in units of the body size)
    ("Hips", None, (0, 0.53, 0)), ("Spine", "Hips", (0, 0.12, 0)), ("Chest", "Spine", (0, 0.12, 0)),
    ("Neck", "Chest", (0, 0.12, 0)), ("Head", "Neck", (0, 0.06, 0)),
    ("LeftShoulder", "Chest", (0.05, 0.1, 0)), ("LeftArm", "LeftShoulder", (0.1, 0, 0)),
    ("LeftForeArm", "LeftArm", (0, -0.17, 0)), ("LeftHand", "LeftForeArm", (0, -0.15, 0)),
    ("RightShoulder", "Chest", (-0.05, 0.1, 0)), ("RightArm", "RightShoulder", (-0.1, 0, 0)),
    ("RightForeArm", "RightArm", (0, -0.17, 0)), ("RightHand", "RightForeArm", (0, -0.15, 0)),
    ("LeftUpLeg", "Hips", (0.06, -0.03, 0)), ("LeftLeg", "LeftUpLeg", (0, -0.24, 0)),
    ("LeftFoot", "LeftLeg", (0, -0.24, 0)), ("RightUpLeg", "Hips", (-0.06, -0.03, 0)),
    ("RightLeg", "RightUpLeg", (0, -0.24, 0)), ("RightFoot", "RightLeg", (0, -0.24, 0)),
]


def write_bvh(path: Path, size: float, *, frames: int = 60, frame_time: str = "0.0333333") -> Path:
    """A walking humanoid ``size`` file units tall (top of the head to the soles), legs swinging."""
    children: dict[str | None, list[int]] = {}
    for i, (_, parent, _) in enumerate(_RIG):
        children.setdefault(parent, []).append(i)
    lines = ["HIERARCHY"]

    def emit(i: int, depth: int) -> None:
        name, parent, off = _RIG[i]
        pad = "  " * depth
        lines.append(f"{pad}{'ROOT' if parent is None else 'JOINT'} {name}")
        lines.append(pad + "{")
        lines.append(f"{pad}  OFFSET {' '.join(f'{o * size:.6f}' for o in off)}")
        chans = "6 Xposition Yposition Zposition Zrotation Xrotation Yrotation" if parent is None \
            else "3 Zrotation Xrotation Yrotation"
        lines.append(f"{pad}  CHANNELS {chans}")
        kids = children.get(name, [])
        for k in kids:
            emit(k, depth + 1)
        if not kids:
            lines.extend([f"{pad}  End Site", pad + "  {", f"{pad}    OFFSET 0 {0.06 * size:.6f} 0" if name == "Head"
                          else f"{pad}    OFFSET 0 -0.02 0", pad + "  }"])
        lines.append(pad + "}")

    emit(0, 0)
    lines += ["MOTION", f"Frames: {frames}", f"Frame Time: {frame_time}"]
    for t in range(frames):
        swing = 25 * math.sin(2 * math.pi * t / 30)
        row = [0.0, 0.53 * size, 0.012 * size * t, 0, 0, 0]
        for name, parent, _ in _RIG[1:]:
            x = swing if name == "LeftUpLeg" else -swing if name == "RightUpLeg" else 0.0
            row += [0.0, x, 0.0]
        lines.append(" ".join(f"{v:.5f}" for v in row))
    path.write_text("\n".join(lines) + "\n")
    return path


# ---- 1. no data file names a path; nothing read from data (or a caller's file) is registered -----
def _layout_file(tmp_path: Path, name: str, base: str = "h36m_17") -> Path:
    spec = get_layout(base).to_dict()
    spec["name"] = name
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(spec))
    return path


def test_npz_layout_string_naming_a_server_file_is_refused_and_not_registered(tmp_path: Path) -> None:
    """Before: the path was opened and the layout registered for every later user of the process."""
    rig = _layout_file(tmp_path, "injected_rig_a", base="unified")
    rig.write_text(json.dumps({"name": "injected_rig_a", "joints": [{"name": "x", "parent": None}]}))
    npz = tmp_path / "p.npz"  # the repro from the issue
    np.savez(npz, positions=np.zeros((2, 1, 3), "f4"), fps=np.array(30.), layout=np.array(str(rig.resolve())))
    with pytest.raises(LayoutError) as err:
        load_clip(npz)
    assert "not a registered layout name" in one_line(err, npz)
    assert "injected_rig_a" not in list_layouts()
    missing = tmp_path / "p2.npz"  # the same answer whether or not the named file exists
    np.savez(missing, positions=np.zeros((2, 1, 3), "f4"), fps=np.array(30.), layout=np.array("/no/such/file.json"))
    with pytest.raises(LayoutError, match="not a registered layout name"):
        load_clip(missing)


def test_npz_embedded_layout_whose_name_is_a_path_is_not_opened(tmp_path: Path) -> None:
    """Before: the embedded layout's *name* was looked up with get_layout, which opened it as a file."""
    other = _layout_file(tmp_path, "injected_rig_b")
    spec = get_layout("h36m_17").to_dict()
    spec["name"] = str(other.resolve())
    npz = tmp_path / "q.npz"
    np.savez(npz, positions=np.zeros((3, 17, 3), "f4"), fps=np.array(30.), layout=np.array(json.dumps(spec)))
    clip = load_clip(npz)
    assert clip.layout.joint_names == get_layout("h36m_17").joint_names
    assert "injected_rig_b" not in list_layouts() and str(other.resolve()) not in list_layouts()


def test_caller_layout_file_applies_to_its_call_only(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Before: load_clip(layout="rig.json") registered the layout globally (next requests saw it)."""
    rig = _layout_file(tmp_path, "caller_rig_c")
    npy = tmp_path / "est.npy"
    np.save(npy, np.load(EXAMPLES / "synthetic_h36m_17_happy_gesture.npy"))
    clip = load_clip(npy, layout=str(rig))
    assert clip.layout.name == "caller_rig_c"
    assert "caller_rig_c" not in list_layouts()
    with pytest.raises(LayoutError, match="unknown layout"):
        get_layout("caller_rig_c")
    assert main(["inspect", str(npy), "--layout", str(rig), "--json"]) == 0  # the CLI's --layout FILE works
    assert json.loads(capsys.readouterr().out)["layout"] == "caller_rig_c"
    assert "caller_rig_c" not in list_layouts()


# ---- 2. linear validation, a joint cap on every reader, limits before allocation ----------------------
def test_big_embedded_layout_is_refused_by_the_joint_cap(tmp_path: Path) -> None:
    """Before: 5,000 joints were validated in quadratic time (about 2 s) and accepted."""
    n = 5000
    spec = {"name": "big", "joints": [{"name": f"j{i}", "parent": None if i == 0 else f"j{i - 1}"} for i in range(n)]}
    npz = tmp_path / "big.npz"
    np.savez(npz, positions=np.zeros((2, n, 3), "f4"), fps=np.array(30.), layout=np.array(json.dumps(spec)))
    with pytest.raises(ClipLimitError) as err:
        load_clip(npz)
    assert f"{n} joints, the limit is {MAX_JOINTS}" in one_line(err, npz)


def test_layout_at_the_cap_validates_a_chain_and_still_finds_cycles() -> None:
    n = MAX_JOINTS
    chain = Layout("chain", tuple(f"j{i}" for i in range(n)), (-1,) + tuple(range(n - 1)))
    assert chain.depth[-1] == n - 1 and chain.topological_order[:3] == (0, 1, 2)
    with pytest.raises(ClipLimitError, match="limit is 1024"):
        Layout("over", tuple(f"j{i}" for i in range(n + 1)), (-1,) + tuple(range(n)))
    with pytest.raises(LayoutError, match=r"joint 'c'.*cycle"):
        Layout("cyc", ("a", "b", "c", "d"), (-1, 0, 3, 2))


def test_npy_and_csv_arrays_over_the_joint_cap(tmp_path: Path) -> None:
    """Before: LayoutError "pass layout=" (NPY) / "no registered layout" (CSV), no cap at all."""
    npy = tmp_path / "wide.npy"
    np.save(npy, np.zeros((2, MAX_JOINTS + 1, 3), "f4"))
    with pytest.raises(ClipLimitError) as err:
        load_clip(npy)
    assert "1025 joints" in one_line(err, npy)
    csv = tmp_path / "wide.csv"
    cols = [f"j{i}_{a}" for i in range(MAX_JOINTS + 1) for a in "xyz"]
    csv.write_text(",".join(cols) + "\n" + ",".join("0" for _ in cols) + "\n")
    with pytest.raises(ClipLimitError) as err:
        load_clip(csv)
    one_line(err, csv)


@pytest.mark.parametrize("frame_time, what", [("1e-320", "Frame Time 1e-320"), ("100000", "Frame Time 100000"),
                                              ("0.0001", "1 to 1000 fps")])
def test_bvh_frame_time_out_of_range(tmp_path: Path, frame_time: str, what: str) -> None:
    """Before: 1e-320 -> OverflowError (round(inf)); 100000 s -> accepted, 9.8 GiB later in resampling."""
    path = write_bvh(tmp_path / "ft.bvh", 170, frames=4, frame_time=frame_time)
    with pytest.raises(ClipLimitError) as err:
        load_clip(path)
    assert what in one_line(err, path)


def test_absurd_frame_rates_from_every_source(tmp_path: Path) -> None:
    """Before: fps 5000 / 1e6 / a 1e-320 s CSV time step passed the readers (or raised OverflowError)."""
    npy = EXAMPLES / "synthetic_h36m_17_happy_gesture.npy"
    with pytest.raises(ClipLimitError, match="fps argument: frame rate 5000 fps"):
        load_clip(npy, layout="h36m_17", fps=5000)
    npz = tmp_path / "fast.npz"
    np.savez(npz, positions=np.load(npy), fps=np.array(1e6))
    with pytest.raises(ClipLimitError) as err:
        load_clip(npz, layout="h36m_17")
    one_line(err, npz)
    csv = tmp_path / "t.csv"
    head = ",".join(f"{j}_{a}" for j in get_layout("h36m_17").joint_names for a in "xyz")
    row = ",".join("0.1" for _ in range(51))
    csv.write_text(f"time,{head}\n0,{row}\n1e-320,{row}\n2e-320,{row}\n")
    with pytest.raises(ClipLimitError) as err:
        load_clip(csv)
    assert "column 'time'" in one_line(err, csv)


def test_duration_limit_guards_resampling(tmp_path: Path) -> None:
    """Before: 5,000 frames at 1 fps (83 minutes, 150,000 frames once resampled to 30 fps) were accepted."""
    npy = tmp_path / "long.npy"
    np.save(npy, np.zeros((5000, 17, 3), "f4"))
    with pytest.raises(ClipLimitError) as err:
        load_clip(npy, layout="h36m_17", fps=1)
    assert "5000 frames at 1 fps" in one_line(err, npy)


def test_memory_estimate_is_checked_before_the_motion_is_parsed(tmp_path: Path) -> None:
    """Before: a hierarchy of 300 joints with Frames: 100000 went on to parse (and allocate) the motion."""
    lines = ["HIERARCHY", "ROOT j0", "{", "OFFSET 0 0 0", "CHANNELS 6 Xposition Yposition Zposition Zrotation "
             "Xrotation Yrotation"]
    for i in range(1, 300):
        lines += [f"JOINT j{i}", "{", "OFFSET 0 1 0", "CHANNELS 6 Xposition Yposition Zposition Zrotation "
                  "Xrotation Yrotation"]
    lines += ["End Site", "{", "OFFSET 0 1 0", "}"] + ["}"] * 300
    lines += ["MOTION", "Frames: 100000", "Frame Time: 0.0333333", " ".join(["0"] * 1800)]
    path = tmp_path / "huge.bvh"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ClipLimitError) as err:
        load_clip(path)
    assert "GiB to read" in one_line(err, path)
    small = write_bvh(tmp_path / "ok.bvh", 170)
    assert load_clip(small).num_frames == 60
    with pytest.raises(ClipLimitError, match="max_memory"):
        load_clip(small, max_memory=10_000)


def test_huge_hierarchy_is_refused_before_tokenising(tmp_path: Path) -> None:
    path = tmp_path / "names.bvh"
    path.write_text("HIERARCHY\nROOT " + "a " * 2_500_000 + "\nMOTION\nFrames: 1\nFrame Time: 0.03\n0\n")
    with pytest.raises(ClipLimitError) as err:
        load_clip(path)
    assert "before MOTION" in one_line(err, path)


# ---- 3. one-line errors instead of tracebacks -----------------------------------------------------
@pytest.mark.timeout(20)
def test_device_files_are_refused_not_read_forever() -> None:
    """Before: /dev/zero has size 0, so the size check passed and read_bytes() read until memory ran out."""
    with pytest.raises(ClipFormatError, match="not a regular file"):
        load_clip("/dev/zero")


def test_csv_of_only_unicode_whitespace(tmp_path: Path) -> None:
    """Before: StopIteration (bytes.strip() keeps '\\x1c', str.strip() removes it)."""
    path = tmp_path / "ws.csv"
    path.write_bytes(b"\x1c\n")
    with pytest.raises(ClipFormatError) as err:
        load_clip(path)
    assert "only whitespace" in one_line(err, path)


def test_save_into_a_folder_or_a_missing_folder_names_the_output(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture) -> None:
    """Before: IsADirectoryError, and a FileNotFoundError naming the internal temp file."""
    clip = SkeletonClip(np.zeros((3, 17, 3), np.float32), 30, get_layout("h36m_17"))
    folder = tmp_path / "existing_dir.npz"
    folder.mkdir()
    with pytest.raises(ClipWriteError) as err:
        save_clip(clip, folder)
    assert "is a folder" in one_line(err, folder)
    missing = tmp_path / "no" / "such" / "out.npz"
    with pytest.raises(ClipWriteError) as err:
        save_clip(clip, missing)
    msg = one_line(err, missing)
    assert ".tmp" not in msg and "does not exist" in msg
    good = EXAMPLES / "dataset-1_walk_angry_001.bvh"
    assert main(["convert", str(good), str(folder)]) == 2
    out = capsys.readouterr().err.strip()
    assert out.count("\n") == 0 and str(folder) in out and "is a folder" in out
    assert main(["convert", str(good), str(missing)]) == 2
    out = capsys.readouterr().err.strip()
    assert out.count("\n") == 0 and str(missing) in out and ".tmp" not in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing_dir.npz"]  # nothing half-written


# ---- 4. units that match nothing ------------------------------------------------------------------
def test_bvh_whose_body_fits_no_unit_warns_and_scales_metric_cues(tmp_path: Path) -> None:
    """Before: 22.8 file units were read as centimetres (a 23 cm person), silently, cues ~7x too small."""
    ok = load_clip(write_bvh(tmp_path / "cm.bvh", 170))
    odd = load_clip(write_bvh(tmp_path / "odd.bvh", 22.8))
    assert ok.meta["units"] == "cm" and "warnings" not in ok.meta and metric_scale(ok) == 1.0
    assert odd.meta["units_unclear"] is True
    (warning,) = odd.meta["warnings"]
    assert warning.startswith("units unclear: body height 0.2") and "pass --units" in warning
    assert "\n" not in warning
    a, b = kinematic_cues(ok), kinematic_cues(odd)
    assert set(a) == set(b) and METRIC_CUES & set(a)
    ratio = 1.7 / ok.meta["body_height_m"]  # odd is scaled to a 1.7 m body, ok is as measured
    for name in a:  # (cadence and stillness use metric thresholds: within 2 %)
        expected = a[name] * ratio if name in METRIC_CUES else a[name]
        assert b[name] == pytest.approx(expected, rel=2e-2, abs=2e-3), name


def test_arrays_in_the_wrong_units_warn_and_caller_units_silence_it(tmp_path: Path) -> None:
    mm = tmp_path / "mm.npy"
    np.save(mm, np.load(EXAMPLES / "synthetic_h36m_17_happy_gesture.npy") * 1000)
    clip = load_clip(mm, layout="h36m_17")
    assert "it fits millimetres" in clip.meta["warnings"][0]
    assert "warnings" not in load_clip(mm, layout="h36m_17", units="mm").meta
    back = load_clip(save_clip(clip, tmp_path / "mm.npz"))  # the warning travels with the clip
    assert back.meta["warnings"] == clip.meta["warnings"] and metric_scale(back) == metric_scale(clip)


def test_real_examples_have_no_units_warning() -> None:
    for path in sorted(EXAMPLES.glob("*")):
        if path.suffix in (".bvh", ".csv", ".npy"):
            layout = "h36m_17" if path.suffix == ".npy" else None
            assert "warnings" not in load_clip(path, layout=layout).meta, path


# ---- 5. the io package ----------------------------------------------------------------------------
def test_io_package_files_stay_small() -> None:
    files = sorted((ROOT / "eai_llm" / "skeleton" / "io").glob("*.py"))
    assert len(files) >= 10
    for f in files:
        assert len(f.read_text().splitlines()) < 400, f


def test_errors_are_project_errors() -> None:
    assert issubclass(ClipLimitError, ClipError) and issubclass(ClipWriteError, ValueError)
