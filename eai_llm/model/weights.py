"""Strict reading of a model directory's weight files: safetensors only, every expected tensor present with
the right shape, or one line naming the folder, the file and what is wrong.

Used for the projector, the skeleton tokenizer and the LoRA adapter (see ``EaiLlmModel.from_pretrained`` and
``SkeletonTokenizer.from_pretrained``). Pickled weights (``*.bin``, ``*.pt``) are refused: loading them runs code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

__all__ = ["ModelLoadError", "MissingModelFile", "PICKLED_SUFFIXES", "read_safetensors", "check_tensors",
           "refuse_pickled"]

PICKLED_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".ckpt")
_SHOW = 3   # tensor names shown before "(+N more)"


class ModelLoadError(ValueError):
    """A model directory (or one of its parts) is incomplete, damaged or of another shape than its config."""


class MissingModelFile(ModelLoadError, FileNotFoundError):
    """A file the model directory must hold is absent."""


def _where(folder: Path, file: Path) -> str:
    try:
        return f"{folder}: {file.relative_to(folder)}"
    except ValueError:
        return str(file)


def _names(names, limit: int = _SHOW) -> str:
    names = sorted(names)
    more = f" (+{len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def refuse_pickled(folder: Path, sub: Path | None = None) -> None:
    """Refuse a folder holding pickled weight files (``adapter_model.bin`` and the like)."""
    where = sub if sub is not None else folder
    if not where.is_dir():
        return
    for f in sorted(where.iterdir()):
        if f.suffix in PICKLED_SUFFIXES and f.is_file():
            raise ModelLoadError(f"{_where(folder, f)}: pickled weights are refused (safetensors only); "
                                 "convert it to .safetensors")


def read_safetensors(folder: Path, file: Path) -> dict:
    """All tensors of ``file`` (a safetensors file inside model directory ``folder``), on the CPU."""
    from safetensors.torch import load_file

    if not file.is_file():
        raise MissingModelFile(f"{_where(folder, file)}: missing")
    try:
        return load_file(str(file))
    except Exception as err:   # safetensors raises its own error types for truncated / garbled files
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ModelLoadError(f"{_where(folder, file)}: not a readable safetensors file ({first})") from None


def check_tensors(folder: Path, file: Path, got: Mapping, expected: Mapping) -> None:
    """Every tensor of ``expected`` (name -> tensor or shape) present in ``got`` with the same shape and
    nothing else; else one line naming the first few missing / unexpected / mismatched names."""
    want = {k: tuple(getattr(v, "shape", v)) for k, v in expected.items()}
    have = {k: tuple(v.shape) for k, v in got.items()}
    missing = want.keys() - have.keys()
    if not have and want:
        raise ModelLoadError(f"{_where(folder, file)}: holds no tensors, expected {len(want)}")
    if missing:
        raise ModelLoadError(f"{_where(folder, file)}: {len(missing)} of {len(want)} tensors missing: "
                             f"{_names(missing)}")
    extra = have.keys() - want.keys()
    if extra:
        raise ModelLoadError(f"{_where(folder, file)}: {len(extra)} unexpected tensors: {_names(extra)}")
    wrong = sorted(k for k in want if want[k] != have[k])
    if wrong:
        k = wrong[0]
        more = f" (+{len(wrong) - 1} more)" if len(wrong) > 1 else ""
        raise ModelLoadError(f"{_where(folder, file)}: tensor {k} has shape {list(have[k])}, the config expects "
                             f"{list(want[k])}{more}")
