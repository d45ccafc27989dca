"""The command line: batch interpret into a report, validation before the model loads, whole help texts,
typed overrides, one-line errors (user: exit 2, internal: exit 1), and `accelerate launch` splitting a batch."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from eai_llm.cli import build_parser, main
from eai_llm.data.synthetic import synthetic_clip
from eai_llm.skeleton.io import save_clip

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "demo" / "examples"
TINY = ROOT / "configs" / "tiny.yaml"


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory) -> Path:
    """Good clips (NPZ in two layouts, a real BVH) and bad ones (garbage BVH, an NPY without a layout) in
    nested folders, plus a file that is not a clip (ignored)."""
    root = tmp_path_factory.mktemp("clips")
    (root / "a" / "b").mkdir(parents=True)
    save_clip(synthetic_clip("sad", "kinect_v2", seconds=4.0, seed=1), root / "a" / "one.npz")
    save_clip(synthetic_clip("happy", "unified", seconds=5.0, seed=2), root / "a" / "b" / "two.npz")
    (root / "walk.bvh").write_bytes((EXAMPLES / "dataset-1_walk_angry_001.bvh").read_bytes())
    (root / "a" / "broken.bvh").write_text("garbage\n")
    np.save(root / "a" / "b" / "pose.npy", np.zeros((10, 17, 3), dtype=np.float32))
    (root / "notes.txt").write_text("not a clip")
    return root


def _no_model_load(monkeypatch):
    import eai_llm.interpreter as I

    def refuse(*a, **k):
        raise AssertionError("the model was loaded before the arguments were checked")

    monkeypatch.setattr(I.EmotionInterpreter, "from_pretrained", classmethod(refuse))


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err.strip()


# ---- batch ---------------------------------------------------------------------------------------------
def test_folder_of_good_and_bad_files_into_csv(tiny_model, clip_folder, tmp_path, capsys):
    out = tmp_path / "report.csv"
    assert main(["interpret", str(clip_folder), "--model", str(tiny_model), "--out", str(out),
                 "--max-new-tokens", "4", "--no-progress", "--threads", "1"]) == 0
    rows = list(csv.DictReader(out.open()))
    names = [Path(r["source"]).name for r in rows]
    assert names == ["pose.npy", "two.npz", "broken.bvh", "one.npz", "walk.bvh"]   # sorted, recursive, no .txt
    by = {Path(r["source"]).name: r for r in rows}
    assert by["broken.bvh"]["error"].startswith(str(clip_folder / "a" / "broken.bvh") + ": line 1:")
    assert "layout" in by["pose.npy"]["error"] and by["pose.npy"]["label"] == ""
    labels = json.loads((tiny_model / "config.json").read_text())["label_sets"]["emotion"]
    for name in ("one.npz", "two.npz", "walk.bvh"):
        r = by[name]
        assert r["error"] == "" and r["label"] in labels
        probs = [float(r[f"p_{l}"]) for l in labels]
        llm = [float(r[f"llm_p_{l}"]) for l in labels]
        assert sum(probs) == pytest.approx(1, abs=1e-4) and sum(llm) == pytest.approx(1, abs=1e-4)
        assert labels[int(np.argmax(probs))] == r["label"] and probs != llm   # fused != the LLM alone
        assert float(r["duration_s"]) > 3 and r["layout"]
    assert by["one.npz"]["layout"] == "kinect_v2" and by["walk.bvh"]["layout"] == "bandai_namco_22"
    assert capsys.readouterr().out.strip() == f"5 clips, 2 failed: {out}"
    assert [p.name for p in tmp_path.iterdir()] == ["report.csv"]                   # no temp file left behind


def test_globs_and_files_into_jsonl_without_explanations(tiny_model, clip_folder, tmp_path):
    out = tmp_path / "r.jsonl"
    pattern = str(clip_folder / "**" / "*.npz")
    assert main(["interpret", pattern, str(clip_folder / "walk.bvh"), str(clip_folder / "a" / "one.npz"),
                 "--model", str(tiny_model), "--out", str(out), "--no-explain", "--no-progress"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [Path(r["source"]).name for r in rows] == ["two.npz", "one.npz", "walk.bvh"]   # sorted; duplicates once
    assert all(r["explanation"] is None and r["error"] is None for r in rows)
    assert set(rows[0]) == {"source", "label", "probabilities", "llm_probabilities", "explanation", "cues",
                            "faithfulness", "duration_s", "layout", "in_distribution", "ood_score", "warnings",
                            "error"}
    # the tiny model knows procedural clips only: the real mocap walk is unlike them, and says so
    assert rows[2]["in_distribution"] is False and "out of distribution" in rows[2]["warnings"][0]


def test_batch_matches_one_by_one(tiny_model, clip_folder, tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    assert main(["interpret", str(clip_folder / "a"), "--model", str(tiny_model), "--out", str(out),
                 "--no-explain", "--no-progress"]) == 0
    batch = {Path(r["source"]).name: r for r in map(json.loads, out.read_text().splitlines())}
    capsys.readouterr()
    assert main(["interpret", str(clip_folder / "a" / "one.npz"), "--model", str(tiny_model), "--json",
                 "--no-explain"]) == 0
    single = json.loads(capsys.readouterr().out)
    assert single["probabilities"] == pytest.approx(batch["one.npz"]["probabilities"], abs=1e-5)
    assert single["llm_probabilities"] == pytest.approx(batch["one.npz"]["llm_probabilities"], abs=1e-5)


def test_reader_options_apply_to_every_file(tiny_model, clip_folder, tmp_path):
    out = tmp_path / "r.csv"
    assert main(["interpret", str(clip_folder / "a" / "b" / "pose.npy"), "--layout", "h36m_17", "--fps", "10",
                 "--model", str(tiny_model), "--out", str(out), "--no-explain", "--no-progress"]) == 0
    (row,) = csv.DictReader(out.open())
    assert row["error"] == "" and row["layout"] == "h36m_17" and float(row["duration_s"]) == pytest.approx(1.0)


def test_warnings_and_the_llm_reading_are_printed(tiny_model, clip_folder, monkeypatch, capsys):
    import eai_llm.skeleton.io as io

    real = io.load_clip

    def with_warning(*a, **k):
        c = real(*a, **k)
        return c.replace(meta={**c.meta, "warnings": ["units unclear: pass --units"]})

    monkeypatch.setattr(io, "load_clip", with_warning)
    assert main(["interpret", str(clip_folder / "a" / "one.npz"), "--model", str(tiny_model), "--no-explain"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "warning: units unclear: pass --units"
    assert any(line.startswith("the LLM's own reading: ") for line in out)
    assert main(["interpret", str(clip_folder / "a" / "one.npz"), "--model", str(tiny_model), "--no-explain",
                 "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["warnings"] == ["units unclear: pass --units"] and set(doc["llm_probabilities"]) == set(doc["probabilities"])


# ---- validation before the model loads -------------------------------------------------------------------
@pytest.mark.parametrize("args, expected", [
    (["--dtype", "float64"], "--dtype: invalid choice: 'float64'"),
    (["--task", "style"], "--task 'style': the model"),
    (["--out", "r.txt"], "r.txt: the report must end in .csv or .jsonl"),
    (["--out", "no/such/folder/r.csv"], "the folder no/such/folder does not exist"),
    (["--threads", "0"], "--threads: expected a positive number"),
    (["--max-new-tokens", "0"], "--max-new-tokens: expected a positive number"),
    (["--layout", "nope"], "nope"),
])
def test_bad_arguments_are_refused_before_the_model_loads(tiny_model, clip_folder, monkeypatch, capsys, args,
                                                           expected, tmp_path):
    _no_model_load(monkeypatch)
    monkeypatch.chdir(tmp_path)
    assert main(["interpret", str(clip_folder / "a" / "one.npz"), "--model", str(tiny_model), *args]) == 2
    assert expected in _one_error_line(capsys)


def test_missing_inputs_are_refused_before_the_model_loads(tiny_model, tmp_path, monkeypatch, capsys):
    _no_model_load(monkeypatch)
    assert main(["interpret", str(tmp_path / "gone.bvh"), "--model", str(tiny_model)]) == 2
    assert _one_error_line(capsys) == f"error: {tmp_path / 'gone.bvh'}: no such file or folder"
    assert main(["interpret", str(tmp_path / "*.bvh"), "--model", str(tiny_model)]) == 2
    assert _one_error_line(capsys).endswith("*.bvh: matches no file")
    (tmp_path / "empty").mkdir()
    assert main(["interpret", str(tmp_path / "empty"), "--model", str(tiny_model)]) == 2
    assert "no clips" in _one_error_line(capsys)
    assert main(["interpret", str(EXAMPLES / "dataset-1_walk_angry_001.bvh"), "--model", str(tmp_path)]) == 2
    assert "not a model directory" in _one_error_line(capsys)


def test_a_bad_single_file_fails_fast(tiny_model, clip_folder, monkeypatch, capsys):
    _no_model_load(monkeypatch)
    assert main(["interpret", str(clip_folder / "a" / "broken.bvh"), "--model", str(tiny_model)]) == 2
    assert "broken.bvh: line 1:" in _one_error_line(capsys)


# ---- help, usage, overrides -----------------------------------------------------------------------------------
def _help(command: str) -> dict[str, str]:
    sub = next(a for a in build_parser()._actions if getattr(a, "choices", None) and command in a.choices)
    return {o: a.help or "" for a in sub.choices[command]._actions for o in a.option_strings}


def test_help_texts_are_whole_with_defaults_choices_and_required():
    bench = _help("benchmark")
    assert bench["--dtype"].endswith("also timed in float32 as the reference). One of: auto, float32, bfloat16. "
                                     "Default: auto.")
    assert "Default: 32." in bench["--limit"]
    assert _help("train")["--config"].startswith("(required)")
    assert _help("evaluate")["--data"].startswith("(required)") and "One of: loco, holdout." in _help("evaluate")["--protocol"]
    interp = _help("interpret")
    for flag in ("--units", "--fps", "--interpolate-gaps", "--layout", "--threads", "--out", "--verbose"):
        assert interp[flag]
    assert "Default: 127.0.0.1." in _help("serve")["--host"]


def test_usage_errors_are_one_line(capsys):
    assert main(["interpret"]) == 2
    assert _one_error_line(capsys) == ("error: eai-llm interpret: the following arguments are required: CLIPS "
                                       "(see eai-llm interpret --help)")
    assert main(["evaluate", "--data", "x"]) == 2
    assert "required: --out" in _one_error_line(capsys)
    assert main(["nope"]) == 2
    assert "invalid choice: 'nope'" in _one_error_line(capsys)
    assert main(["--version"]) == 0


@pytest.mark.parametrize("override, expected", [
    ("stage2.max_steps=abc", "error: --override stage2.max_steps=abc: expected int or None, got 'abc' (str)"),
    ("seed=1.5", "error: --override seed=1.5: expected int, got 1.5 (float)"),
    ("stage1.lr=fast", "error: --override stage1.lr=fast: expected float, got 'fast' (str)"),
    ("model.llm.load_in_4bit=maybe", "error: --override model.llm.load_in_4bit=maybe: expected bool, got 'maybe' (str)"),
    ("stage2.nope=1", "error: --override stage2.nope: unknown key 'nope'"),
])
def test_typed_overrides(override, expected, monkeypatch, capsys):
    import eai_llm.training.train as T

    monkeypatch.setattr(T, "train", lambda *a, **k: pytest.fail("trained despite a bad override"))
    assert main(["train", "--config", str(TINY), "--override", override]) == 2
    assert _one_error_line(capsys).startswith(expected)


def test_typed_recipe_file(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(TINY.read_text().replace("max_steps: 6", "max_steps: six"))
    assert main(["train", "--config", str(bad)]) == 2
    assert _one_error_line(capsys) == f"error: {bad}: stage2: max_steps: expected int or None, got 'six' (str)"


# ---- one-line errors for everything ------------------------------------------------------------------------
@pytest.mark.parametrize("exc, text", [
    (OSError("disk on fire"), "internal error: OSError: disk on fire"),
    (MemoryError(), "internal error: MemoryError: out of memory"),
    (OverflowError("cannot convert float infinity to integer"), "internal error: OverflowError: cannot convert"),
    (StopIteration(), "internal error: StopIteration: (no message)"),
    (RuntimeError("line one\nline two"), "internal error: RuntimeError: line one line two"),
])
def test_unexpected_errors_are_one_internal_error_line(exc, text, monkeypatch, capsys):
    import eai_llm.cli as cli

    def boom(show: str | None = None):
        raise exc

    monkeypatch.setitem(cli.COMMANDS, "layouts", boom)
    assert main(["layouts"]) == 1
    line = _one_error_line(capsys)
    assert line.startswith(text) and line.endswith("(run with EAI_LLM_DEBUG=1 to see the traceback)")
    monkeypatch.setenv("EAI_LLM_DEBUG", "1")
    with pytest.raises(type(exc)):
        main(["layouts"])


def test_os_errors_a_user_causes_name_the_path(tmp_path, capsys):
    good = tmp_path / "c.npz"
    save_clip(synthetic_clip("sad", seed=1), good)
    (tmp_path / "dir.npz").mkdir()
    code = main(["convert", str(good), str(tmp_path / "dir.npz")])
    line = _one_error_line(capsys)
    assert code == 2 and "dir.npz" in line and "internal error" not in line
    assert main(["convert", str(good), str(tmp_path / "no" / "x.npz")]) == 2
    assert _one_error_line(capsys) == (f"error: {tmp_path / 'no' / 'x.npz'}: cannot write: the folder "
                                       f"{str(tmp_path / 'no')!r} does not exist")
    assert main(["benchmark", "--model", str(tmp_path / "nope")]) == 2
    assert "nope: no such model directory" in _one_error_line(capsys)


# ---- accelerate launch: two CPU processes, one merged report -----------------------------------------------
@pytest.mark.slow
def test_accelerate_launch_splits_a_batch_between_two_processes(tiny_model, clip_folder, tmp_path):
    launcher = Path(sys.executable).with_name("accelerate")
    out = tmp_path / "merged.csv"
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    cmd = [str(launcher), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "eai_llm.cli", "interpret", str(clip_folder),
           "--model", str(tiny_model), "--out", str(out), "--no-explain", "--no-progress"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "process 0/2: 3 of 5 clips" in proc.stderr and "process 1/2: 2 of 5 clips" in proc.stderr
    rows = list(csv.DictReader(out.open()))
    assert [Path(r["source"]).name for r in rows] == ["pose.npy", "two.npz", "broken.bvh", "one.npz", "walk.bvh"]
    assert sum(bool(r["error"]) for r in rows) == 2 and all(r["label"] for r in rows if not r["error"])
    assert proc.stdout.count("5 clips, 2 failed") == 1                   # one report, written by the main process
    assert sorted(p.name for p in tmp_path.iterdir()) == ["merged.csv"]


def test_threads(tiny_model, clip_folder, monkeypatch):
    import torch

    from eai_llm.cli._common import default_threads

    before = torch.get_num_threads()
    try:
        assert main(["interpret", str(clip_folder / "a" / "one.npz"), "--model", str(tiny_model), "--no-explain",
                     "--threads", "2"]) == 0
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert default_threads() == 3
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert default_threads() == max(1, (os.cpu_count() or 1) // 2)


def test_an_out_of_distribution_clip_is_flagged_first(tiny_model, tmp_path, capsys):
    from eai_llm.data.synthetic import synthetic_clip
    from eai_llm.evaluation.ood import corrupt
    from eai_llm.skeleton.io import save_clip

    path = save_clip(corrupt(synthetic_clip("sad", seed=2), "tracker rig (6 joints)"), tmp_path / "tracker.npz")
    assert main(["interpret", str(path), "--model", str(tiny_model), "--no-explain"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("warning: out of distribution (score 3.00") and "core joints missing" in out[0]
    assert any(line.startswith("in distribution: NO") for line in out)
    assert main(["interpret", str(path), "--model", str(tiny_model), "--no-explain", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["in_distribution"] is False and doc["ood_components"]["coverage"] == 3.0
