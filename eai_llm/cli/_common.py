"""What every subcommand shares: the registry, the user-error type, quiet loading, threads, model checks."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

COMMANDS: dict[str, Callable[..., int | None]] = {}

class UserError(Exception):
    """An error caused by the user's input; printed as one line, exit code 2."""


def command(fn: Callable[..., int | None]) -> Callable[..., int | None]:
    """Register ``cmd_a_b`` as the subcommand ``a-b``."""
    COMMANDS[fn.__name__.removeprefix("cmd_").replace("_", "-")] = fn
    return fn


def quiet_model_loading(verbose: bool = False) -> None:
    """No weight-loading progress bars or library deprecation chatter on a user's terminal (unless verbose)."""
    import warnings

    from transformers.utils import logging as hf_logging

    if verbose:
        hf_logging.set_verbosity_info()
        return
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning)


def world_size() -> int:
    """How many processes ``accelerate launch`` / torchrun started (1 when run directly)."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def default_threads() -> int:
    """``$OMP_NUM_THREADS`` when set (torchrun sets it to 1), else the CPU cores shared out between the processes."""
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, (os.cpu_count() or 1) // world_size())


def set_threads(threads: int | None) -> int:
    """``torch.set_num_threads(threads or default_threads())``."""
    import torch

    n = threads if threads else default_threads()
    torch.set_num_threads(n)
    return n


def check_threads(threads: int | None) -> None:
    if threads is not None and threads < 1:
        raise UserError(f"--threads: expected a positive number of threads, got {threads}")


def model_dir_and_labels(model: str | None) -> tuple[Path, dict[str, list[str]]]:
    """The model directory (``None``: the bundled one) and its label sets, from ``config.json`` alone (cheap:
    for checking ``--task`` before the weights load)."""
    from ..interpreter import default_model_dir
    from ..model.config import EaiLlmConfig

    if model is None:
        try:
            path = default_model_dir()
        except FileNotFoundError as err:
            raise UserError(str(err)) from None
    else:
        path = Path(model)
        if not path.exists():
            raise UserError(f"{path}: no such model directory")
        if not (path / "config.json").is_file():
            raise UserError(f"{path}: not a model directory (no config.json)")
    return path, EaiLlmConfig.load(path / "config.json").label_sets


def check_task(model_path: Path, label_sets: dict[str, list[str]], task: str) -> None:
    if task not in label_sets:
        raise UserError(f"--task {task!r}: the model {model_path} knows {', '.join(sorted(label_sets))}")


def check_positive(name: str, value: float | int | None, *, allow_zero: bool = False) -> None:
    if value is None:
        return
    if value < 0 or (value == 0 and not allow_zero):
        raise UserError(f"--{name.replace('_', '-')}: expected a {'non-negative' if allow_zero else 'positive'} "
                        f"number, got {value}")
