"""Model directories: strict loading (issue 15 item 5), hub-ready folders and quiet loading (issue 14 item 5)."""

import json
import logging
import shutil
from pathlib import Path

import pytest
import torch

from eai_llm.model.modeling import EaiLlmModel
from eai_llm.model.weights import ModelLoadError
from test_model import tiny_config   # the same tiny model the model tests use

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    model = EaiLlmModel.build(tiny_config(), seed=0).eval()
    out = tmp_path_factory.mktemp("model-dir") / "m"
    model.save_pretrained(out, extras={"cue_stats.json": {"x": {"mean": 0.0}},
                                       "training.json": {"data": {"emotion": {"task": "emotion", "windows": 4,
                                                                              "clips": 2}},
                                                         "datasets": []}})
    return out


@pytest.fixture
def broken(saved, tmp_path) -> Path:
    dest = tmp_path / "broken"
    shutil.copytree(saved, dest)
    return dest


# ---- strict loading --------------------------------------------------------------------------------------
def _edit(file: Path, change) -> None:
    from safetensors.torch import load_file, save_file

    save_file(change(load_file(str(file))), str(file))


def _wrong_shape(state: dict) -> dict:
    k = sorted(state)[0]
    return {**state, k: torch.zeros(*state[k].shape[:-1], state[k].shape[-1] + 1)}


CORRUPTIONS = {
    "empty adapter": ("adapter/adapter_model.safetensors", lambda f: _edit(f, lambda s: {}),
                      "adapter/adapter_model.safetensors: holds no tensors"),
    "partial adapter": ("adapter/adapter_model.safetensors",
                        lambda f: _edit(f, lambda s: {k: v for k, v in s.items() if "layers.1." not in k}),
                        "adapter/adapter_model.safetensors: 4 of 8 tensors missing: base_model.model.model.layers.1"),
    "adapter shape": ("adapter/adapter_model.safetensors", lambda f: _edit(f, _wrong_shape),
                      "adapter/adapter_model.safetensors: tensor base_model.model.model.layers.0.self_attn.q_proj"),
    "pickled adapter": ("adapter/adapter_model.bin", lambda f: torch.save({}, f),
                        "adapter/adapter_model.bin: pickled weights are refused (safetensors only)"),
    "projector key": ("projector.safetensors", lambda f: _edit(f, lambda s: {k: s[k] for k in sorted(s)[1:]}),
                      "projector.safetensors: 1 of 4 tensors missing: net.0.bias"),
    "projector shape": ("projector.safetensors", lambda f: _edit(f, _wrong_shape),
                        "projector.safetensors: tensor net.0.bias has shape [65], the config expects [64]"),
    "truncated projector": ("projector.safetensors", lambda f: f.write_bytes(f.read_bytes()[:200]),
                            "projector.safetensors: not a readable safetensors file"),
    "partial tokenizer": ("skeleton_tokenizer/model.safetensors",
                          lambda f: _edit(f, lambda s: {k: v for k, v in s.items() if not k.startswith("spatial")}),
                          "skeleton_tokenizer: model.safetensors:"),
    "partial llm": ("llm/model.safetensors",
                    lambda f: _edit(f, lambda s: {k: v for k, v in s.items() if "layers.1.mlp" not in k}),
                    "llm/: 3 weights missing or of another shape: model.layers.1.mlp"),
}


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_damaged_model_dir_is_a_one_line_error(broken, case):
    part, damage, message = CORRUPTIONS[case]
    damage(broken / part)
    with pytest.raises(ModelLoadError) as err:
        EaiLlmModel.from_pretrained(broken)
    text = str(err.value)
    assert "\n" not in text and str(broken) in text and message in text, text


def test_missing_adapter_file_names_it(broken):
    (broken / "adapter" / "adapter_model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match=r"broken: adapter/adapter_model.safetensors: missing"):
        EaiLlmModel.from_pretrained(broken)


def test_cli_refuses_a_partial_adapter_with_exit_2(broken, tmp_path, capsys):
    from eai_llm.cli import main
    from eai_llm.data.synthetic import synthetic_clip
    from eai_llm.skeleton.io import save_clip

    CORRUPTIONS["partial adapter"][1](broken / "adapter" / "adapter_model.safetensors")
    clip = tmp_path / "angry.npz"
    save_clip(synthetic_clip("angry", seed=1), clip)
    assert main(["interpret", str(clip), "--model", str(broken), "--no-explain"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "tensors missing" in err and str(broken) in err


def test_round_trip_stays_exact(saved):
    again = EaiLlmModel.from_pretrained(saved)
    ref = EaiLlmModel.build(tiny_config(), seed=0).eval()
    for (n, a), (m, b) in zip(sorted(ref.state_dict().items()), sorted(again.state_dict().items())):
        assert n == m and torch.equal(a, b), n


# ---- hub-ready folders -----------------------------------------------------------------------------------
def test_saved_folder_is_hub_ready(saved, monkeypatch):
    from huggingface_hub import HfApi, ModelCard

    from eai_llm.model.folder import hub_layout_problems

    card = ModelCard.load(saved / "README.md")
    assert card.data.license == "apache-2.0" and card.data.library_name == "eai-llm"
    assert "emotion-recognition" in card.data.tags and "happy" in card.text
    assert hub_layout_problems(saved) == []
    for p in [saved, *saved.rglob("*")]:
        assert p.stat().st_mode & 0o777 == (0o755 if p.is_dir() else 0o644), p
    assert json.loads((saved / "adapter" / "adapter_config.json").read_text())["base_model_name_or_path"] is None
    # what upload_folder / push_to_hub would send, offline: the card's YAML is checked locally instead of by the hub
    seen = []
    monkeypatch.setattr(HfApi, "_validate_yaml", lambda self, content, **kw: seen.append(ModelCard(content).data))
    ops = HfApi()._prepare_upload_folder_additions(saved, "", repo_type="model", token=False)
    files = {p.relative_to(saved).as_posix() for p in saved.rglob("*") if p.is_file()}
    assert {op.path_in_repo for op in ops} == files and seen and seen[0].license == "apache-2.0"


def test_hub_ids_never_machine_paths(tmp_path):
    from eai_llm.model.card import hub_base_model

    assert hub_base_model("smollm2") == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert hub_base_model("HuggingFaceTB/SmolLM2-135M-Instruct") == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert hub_base_model("Qwen/Qwen2-0.5B") == "Qwen/Qwen2-0.5B"
    (tmp_path / "a").mkdir()
    for local in ("/root/.cache/eai_llm/smollm2-135m-instruct", "./models/x", str(tmp_path / "a"), "tiny-random"):
        assert hub_base_model(local) is None


def test_bundled_default_model_is_hub_ready():
    from huggingface_hub import ModelCard

    from eai_llm.interpreter import BUNDLED_DIR
    from eai_llm.model.folder import hub_layout_problems

    assert not (BUNDLED_DIR / "MODEL_CARD.md").exists()
    card = ModelCard.load(BUNDLED_DIR / "README.md")
    assert card.data.license == "cc-by-nc-4.0" and card.data.base_model == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert "87.3%" in card.text                        # the measured numbers it states are kept
    assert sorted(p.name for p in (BUNDLED_DIR / "head_members").iterdir()) == ["1", "2", "3", "4"]
    assert (BUNDLED_DIR / "conformal.json").is_file() and (BUNDLED_DIR / "calibration.json").is_file()
    cfg = json.loads((BUNDLED_DIR / "adapter" / "adapter_config.json").read_text())
    assert cfg["base_model_name_or_path"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert [p for p in hub_layout_problems(BUNDLED_DIR) if "mode" not in p] == []


def test_merge_carries_calibration_card_and_stats(saved, tmp_path):
    from eai_llm.model.folder import hub_layout_problems
    from eai_llm.model.merge import merge_model_dir

    src = tmp_path / "src"
    shutil.copytree(saved, src)
    (src / "calibration.json").write_text(json.dumps({"temperature": 1.3}))
    out = merge_model_dir(src, tmp_path / "merged")
    names = {p.name for p in out.iterdir()}
    assert {"calibration.json", "cue_stats.json", "training.json", "README.md", "llm"} <= names
    assert "adapter" not in names and hub_layout_problems(out) == []
    assert "merged form" in (out / "README.md").read_text()
    assert json.loads((out / "calibration.json").read_text()) == {"temperature": 1.3}
    with pytest.raises(ModelLoadError, match="has no LoRA adapter"):
        merge_model_dir(out, tmp_path / "again")


# ---- quiet loading ---------------------------------------------------------------------------------------
def test_loading_writes_nothing_to_stderr_unless_verbose(saved, capfd):
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.enable_progress_bar()       # as in a fresh process (the CLI tests switch it off for the session)
    try:
        level = logging.getLogger("transformers").level
        capfd.readouterr()
        EaiLlmModel.from_pretrained(saved)
        assert capfd.readouterr().err == ""
        assert logging.getLogger("transformers").level == level      # the caller's settings are restored
        assert hf_logging.is_progress_bar_enabled()
        EaiLlmModel.from_pretrained(saved, verbose=True)
        assert "Loading weights" in capfd.readouterr().err
    finally:
        (hf_logging.enable_progress_bar if bars else hf_logging.disable_progress_bar)()


def test_quiet_loading_silences_the_bitsandbytes_kernel_line(caplog):
    """bitsandbytes logs this from ``bitsandbytes.backends.cpu.ops`` when it is imported without its CPU kernels
    (during a model load, through peft); without handlers it reaches stderr through logging's last-resort handler
    (pytest's own handler catches it here, so the records are checked)."""
    from eai_llm.model.quiet import quiet_loading

    line = "Failed to load CPU gemm_4bit_forward from kernels-community: x. Please make sure you already `pip install kernels`"
    log = logging.getLogger("bitsandbytes.backends.cpu.ops")
    with caplog.at_level(logging.WARNING, logger="bitsandbytes.backends.cpu.ops"):
        log.setLevel(logging.NOTSET)        # at_level sets the child; leave the level to its parents as in a real run
        with quiet_loading():
            log.warning(line)
        assert not [r for r in caplog.records if "gemm_4bit_forward" in r.getMessage()]
        with quiet_loading(verbose=True):
            log.warning(line)
        assert [r for r in caplog.records if "gemm_4bit_forward" in r.getMessage()]


def test_quiet_loading_silences_the_gguf_conversion_bar_and_the_kernels_line(capfd, caplog):
    """The one-time conversion of SmolLM2 from the wheel's GGUF draws a plain tqdm bar; kernels logs a line."""
    import transformers.modeling_gguf_pytorch_utils as gguf_utils

    from eai_llm.model.quiet import quiet_loading

    original = gguf_utils.tqdm
    capfd.readouterr()
    with quiet_loading():
        assert list(gguf_utils.tqdm(range(3), desc="Converting and de-quantizing GGUF tensors...")) == [0, 1, 2]
        with caplog.at_level(logging.NOTSET):
            logging.getLogger("kernels._internals.hf_hub").warning("Skipping publisher trust check for 'x'")
    assert "Converting" not in capfd.readouterr().err
    assert not [r for r in caplog.records if "publisher trust" in r.getMessage()]
    assert gguf_utils.tqdm is original                  # put back after the block
    with quiet_loading(verbose=True):
        list(gguf_utils.tqdm(range(3), desc="Converting and de-quantizing GGUF tensors..."))
    assert "Converting" in capfd.readouterr().err

