"""End to end on the tiny recipe: train from the CLI, interpret, resume, merge, and two CPU processes."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from eai_llm.cli import main

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "tiny.yaml"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    code = main(["train", "--config", str(TINY), "--output-dir", str(out), "--no-progress",
                 "--override", f"cache_dir={out / 'cache'}"])
    assert code == 0
    return out


def test_train_writes_a_complete_model(trained):
    model = trained / "model"
    names = {p.name for p in model.iterdir()}
    assert {"config.json", "skeleton_tokenizer", "projector.safetensors", "adapter", "llm", "cue_stats.json",
            "training.json"} <= names
    meta = json.loads((model / "training.json").read_text())
    assert meta["stage2"]["steps"] == 6 and meta["stage2"]["samples_per_s"] > 0
    assert meta["data"]["emotion"]["windows"] > 0
    log = [json.loads(line) for line in (trained / "log.jsonl").read_text().splitlines()]
    assert {row["stage"] for row in log} == {1, 2}
    # stage 1 learned something on the (easy) synthetic clips: the loss went down
    s1 = [row["loss"] for row in log if row["stage"] == 1]
    assert sum(s1[-3:]) < sum(s1[:3])


def test_interpret_cli_and_library_agree(trained, tmp_path, capsys):
    from eai_llm.data.synthetic import synthetic_clip
    from eai_llm.interpreter import EmotionInterpreter
    from eai_llm.skeleton.io import save_clip

    clip = synthetic_clip("sad", "kinect_v2", seconds=3.0, seed=123)
    path = tmp_path / "sad.npz"
    save_clip(clip, path)
    assert main(["interpret", str(path), "--model", str(trained / "model"), "--json", "--max-new-tokens", "8"]) == 0
    out = json.loads(capsys.readouterr().out)
    interp = EmotionInterpreter.from_pretrained(trained / "model")
    labels = interp.label_sets["emotion"]
    assert out["label"] in labels and abs(sum(out["probabilities"].values()) - 1) < 1e-5
    res = interp.interpret(clip, max_new_tokens=8)
    assert res.label == out["label"]
    assert res.probabilities == pytest.approx(out["probabilities"], abs=1e-5)
    assert res.raw_explanation.startswith(f"Emotion: {res.label}. Explanation:")
    assert res.timeline and all(set(w["probabilities"]) == set(labels) for w in res.timeline)
    # batch and single interpretation agree
    other = synthetic_clip("happy", "unified", seconds=5.0, seed=7)
    batch = interp.interpret_batch([clip, other], explain=False)
    alone = interp.interpret(other, explain=False)
    assert batch[0].probabilities == pytest.approx(res.probabilities, abs=1e-5)
    assert batch[1].probabilities == pytest.approx(alone.probabilities, abs=1e-5)


def test_streamed_text_matches_the_explanation(trained):
    from eai_llm.data.synthetic import synthetic_clip
    from eai_llm.interpreter import EmotionInterpreter

    interp = EmotionInterpreter.from_pretrained(trained / "model")
    pieces = []
    res = interp.interpret(synthetic_clip("angry", seed=3), max_new_tokens=6, on_text=pieces.append)
    prefix = f"Emotion: {res.label}. Explanation:"
    assert (prefix + "".join(pieces)).strip() == res.raw_explanation


def test_resume_continues_from_checkpoint(trained, tmp_path):
    from safetensors.torch import load_file

    out = tmp_path / "run"
    shutil.copytree(trained / "checkpoints", out / "checkpoints")
    ckpt = out / "checkpoints" / "stage2" / "step-00000003"
    assert json.loads((ckpt / "manifest.json").read_text())["step"] == 3
    # only what training changes: no base LLM weights (the tiny Llama's embeddings, its frozen projections)
    assert {p.name for p in ckpt.iterdir()} == {"trainable.safetensors", "optimizer.pt", "scheduler.pt", "rng-0.pt",
                                                "state.json", "recipe.json", "manifest.json"}
    names = load_file(str(ckpt / "trainable.safetensors")).keys()
    assert names and all(".lora_" in n or n.startswith("projector.") for n in names)
    assert main(["train", "--config", str(TINY), "--output-dir", str(out), "--no-progress", "--resume",
                 "--override", f"cache_dir={trained / 'cache'}"]) == 0
    meta = json.loads((out / "model" / "training.json").read_text())
    assert meta["stage2"]["resumed_at"] == 3
    for part in ("adapter/adapter_model.safetensors", "projector.safetensors"):       # bitwise the same model
        a, b = load_file(str(trained / "model" / part)), load_file(str(out / "model" / part))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), part


def test_resume_refuses_a_checkpoint_of_another_recipe(trained, tmp_path, capsys):
    out = tmp_path / "run"
    shutil.copytree(trained / "checkpoints", out / "checkpoints")
    assert (out / "checkpoints" / "stage1_tokenizer" / "recipe.json").is_file()
    assert main(["train", "--config", str(TINY), "--output-dir", str(out), "--no-progress", "--resume",
                 "--override", f"cache_dir={trained / 'cache'}", "model.tokenizer.use_statistics=true"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "stage1_tokenizer" in err[0] and "model.tokenizer.use_statistics" in err[0]


def test_stage1_resume_ignores_the_spatio_temporal_switch(trained, tmp_path):
    """Stage 1 trains on the semantic summary only, so a run without spatio-temporal tokens may start from the
    full recipe's stage-1 tokenizer; a switch stage 1 does depend on is still refused."""
    from accelerate import Accelerator

    from eai_llm.training.recipe import load_recipe
    from eai_llm.training.train import stage1_tokenizer

    out = tmp_path / "run"
    shutil.copytree(trained / "checkpoints" / "stage1_tokenizer", out / "checkpoints" / "stage1_tokenizer")
    base = [f"output_dir={out}", f"cache_dir={trained / 'cache'}"]
    full, _ = stage1_tokenizer(load_recipe(TINY, base), out, Accelerator(cpu=True), resume=True)
    recipe = load_recipe(TINY, [*base, "model.tokenizer.use_spatio_temporal=false"])
    tok, _ = stage1_tokenizer(recipe, out, Accelerator(cpu=True), resume=True)
    assert not tok.config.use_spatio_temporal and tok.config.num_tokens == tok.config.num_semantic
    assert full.config.num_tokens > tok.config.num_tokens
    with pytest.raises(ValueError, match="use_semantic"):
        stage1_tokenizer(load_recipe(TINY, [*base, "model.tokenizer.use_semantic=false"]), out,
                         Accelerator(cpu=True), resume=True)


def test_merge_gives_the_same_probabilities(trained, tmp_path):
    from eai_llm.data.synthetic import synthetic_clip
    from eai_llm.interpreter import EmotionInterpreter

    assert main(["merge", str(trained / "model"), str(tmp_path / "merged")]) == 0
    assert not (tmp_path / "merged" / "adapter").exists()
    clip = synthetic_clip("proud", seed=5)
    a = EmotionInterpreter.from_pretrained(trained / "model").interpret(clip, explain=False)
    b = EmotionInterpreter.from_pretrained(tmp_path / "merged").interpret(clip, explain=False)
    assert a.probabilities == pytest.approx(b.probabilities, abs=1e-4)


def test_bad_recipe_is_one_line_error(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources: [{name: x, kind: nope}]\n")
    assert main(["train", "--config", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "kind 'nope'" in err


@pytest.mark.slow
def test_accelerate_two_cpu_processes(tmp_path):
    launcher = Path(sys.executable).with_name("accelerate")
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    # on a CPU-only machine `--multi_gpu` starts the processes with torchrun; they join one gloo group on the CPU
    cmd = [str(launcher), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
           "--dynamo_backend", "no", "-m", "eai_llm.cli", "train", "--config", str(TINY), "--output-dir",
           str(tmp_path / "ddp"), "--no-progress", "--override", f"cache_dir={tmp_path / 'cache'}"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    meta = json.loads((tmp_path / "ddp" / "model" / "training.json").read_text())
    assert meta["processes"] == 2


def test_cli_shortcuts_become_recipe_overrides(monkeypatch, tmp_path):
    import eai_llm.training.train as T

    seen = {}
    monkeypatch.setattr(T, "train", lambda recipe, **kw: seen.setdefault("recipe", recipe) and tmp_path)
    assert main(["train", "--config", str(TINY), "--llm", "/models/qwen2-0.5b", "--load-in-4bit",
                 "--text-encoder", "openai/clip-vit-base-patch32", "--output-dir", str(tmp_path)]) == 0
    r = seen["recipe"]
    assert r.model.llm.name_or_path == "/models/qwen2-0.5b" and r.model.llm.load_in_4bit
    assert r.stage1.text_encoder == "openai/clip-vit-base-patch32"
    assert r.resolve(r.output_dir) == tmp_path
    assert main(["train"]) == 2
