"""Atomic, verified checkpoints (issue 15 item 4): an interrupted save, a truncated file, a finished run, and the
log continuing exactly across a resume. The tiny recipe with a checkpoint every 2 steps: steps 2 and 4 are kept."""

import json
import shutil
from pathlib import Path

import pytest
import torch

from eai_llm.cli import main

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "tiny.yaml"
PARTS = ("adapter/adapter_model.safetensors", "projector.safetensors", "skeleton_tokenizer/model.safetensors")


def train(out: Path, cache: Path, *extra: str) -> int:
    return main(["train", "--config", str(TINY), "--output-dir", str(out), "--no-progress", *extra,
                 "--override", f"cache_dir={cache}", "stage2.checkpoint_every=2"])


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ckpt-ref")
    assert train(out, out / "cache") == 0
    return out


def log_rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def assert_same_model(a: Path, b: Path) -> None:
    from safetensors.torch import load_file

    for part in PARTS:
        x, y = load_file(str(a / "model" / part)), load_file(str(b / "model" / part))
        assert x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x), part
    ma, mb = (json.loads((d / "model" / "training.json").read_text())["stage2"] for d in (a, b))
    assert ma["first_loss"] == mb["first_loss"] and ma["final_loss"] == mb["final_loss"]


def interrupted_copy(reference: Path, dest: Path) -> Path:
    """The run as a kill after its last step but before the model was written leaves it: checkpoints + log."""
    shutil.copytree(reference / "checkpoints", dest / "checkpoints")
    shutil.copy2(reference / "log.jsonl", dest / "log.jsonl")
    return dest


def test_two_checkpoints_are_kept_with_manifests(reference):
    root = reference / "checkpoints" / "stage2"
    assert sorted(p.name for p in root.iterdir()) == ["step-00000002", "step-00000004"]
    for folder in root.iterdir():
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["step"] == int(folder.name[5:]) and len(manifest["recipe_sha256"]) == 64
        assert manifest["files"]["optimizer.pt"]["bytes"] == (folder / "optimizer.pt").stat().st_size


def test_resume_is_exact_and_the_log_continues_without_duplicates(reference, tmp_path, capsys):
    out = interrupted_copy(reference, tmp_path / "run")
    assert train(out, reference / "cache", "--resume") == 0
    assert "resumed stage 2 from step 4" in capsys.readouterr().out
    assert json.loads((out / "model" / "training.json").read_text())["stage2"]["resumed_at"] == 4
    assert_same_model(reference, out)                      # bitwise, first_loss included
    assert log_rows(out) == log_rows(reference)           # rows 2, 4 kept, 6 written once


def test_interrupted_save_resumes_from_the_last_complete_checkpoint(reference, tmp_path, monkeypatch):
    out = tmp_path / "run"
    real_save = torch.save

    def killed_while_saving_step_4(obj, f, *a, **kw):
        if isinstance(obj, dict) and "param_groups" in obj and any(
                float(s.get("step", 0)) == 4 for s in obj.get("state", {}).values()):
            raise KeyboardInterrupt                           # the kill lands in the middle of the save
        return real_save(obj, f, *a, **kw)

    monkeypatch.setattr(torch, "save", killed_while_saving_step_4)
    assert train(out, reference / "cache") == 130
    monkeypatch.setattr(torch, "save", real_save)
    assert not (out / "model").exists()
    assert train(out, reference / "cache", "--resume") == 0
    assert json.loads((out / "model" / "training.json").read_text())["stage2"]["resumed_at"] == 2
    assert_same_model(reference, out)
    assert log_rows(out) == log_rows(reference)


@pytest.mark.parametrize("name,problem", [("optimizer.pt", "optimizer.pt has"), ("recipe.json", "recipe.json has"),
                                          ("manifest.json", "manifest.json is damaged")])
def test_truncated_checkpoint_falls_back_to_the_previous_one(reference, tmp_path, capsys, name, problem):
    out = interrupted_copy(reference, tmp_path / "run")
    f = out / "checkpoints" / "stage2" / "step-00000004" / name
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    assert train(out, reference / "cache", "--resume") == 0
    said = capsys.readouterr().out
    assert f"skipped damaged checkpoint step-00000004 ({problem}" in said and "resuming from step-00000002" in said
    assert json.loads((out / "model" / "training.json").read_text())["stage2"]["resumed_at"] == 2
    assert_same_model(reference, out)


def test_no_usable_checkpoint_is_a_one_line_error(reference, tmp_path, capsys):
    out = interrupted_copy(reference, tmp_path / "run")
    root = out / "checkpoints" / "stage2"
    (root / "step-00000004" / "optimizer.pt").write_bytes(b"\0" * 10)
    weights = root / "step-00000002" / "trainable.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    assert train(out, reference / "cache", "--resume") == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "no usable checkpoint" in err
    assert "step-00000004 (optimizer.pt has 10 bytes" in err and "step-00000002 (trainable.safetensors has 100 bytes" in err
    assert not (out / "model").exists()


def test_resuming_a_finished_run_says_so(reference, tmp_path, capsys):
    out = tmp_path / "run"
    shutil.copytree(reference, out, ignore=shutil.ignore_patterns("cache"))
    before = {p: p.read_bytes() for p in [out / "log.jsonl", *(out / "model").rglob("*")] if p.is_file()}
    assert train(out, reference / "cache", "--resume") == 0
    assert "already finished at step 6" in capsys.readouterr().out
    assert {p: p.read_bytes() for p in before} == before
    # another recipe is not "finished": it trains (here refused, as its checkpoints are of the other recipe)
    assert main(["train", "--config", str(TINY), "--output-dir", str(out), "--no-progress", "--resume",
                 "--override", f"cache_dir={reference / 'cache'}", "stage2.checkpoint_every=2",
                 "stage2.lr=0.001"]) == 2
