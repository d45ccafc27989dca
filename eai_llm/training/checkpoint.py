"""Atomic, verified training checkpoints.

A stage-2 checkpoint is a folder ``<output>/checkpoints/stage2/step-00000020/`` holding only what training
changes: the trainable weights (LoRA adapter, projector, the skeleton tokenizer when it trains;
``trainable.safetensors``), the optimizer and scheduler states, one RNG state per process, the loss history
(``state.json``), the recipe (``recipe.json``) and last a ``manifest.json`` (step, recipe hash, process count,
the size and sha256 of every file). The frozen base LLM is rebuilt from the recipe, never written.

Each one is written into a hidden temporary folder, fsynced and renamed into place, so an interrupted save
leaves the previous checkpoints as they were. The last :data:`KEEP` are kept. Resuming verifies the newest
against its manifest and falls back to the one before it when it is damaged (saying which it chose); when none
is usable, or the recipe changed, it stops with one line naming what is wrong.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from pathlib import Path
from typing import Callable

import numpy as np
import torch

__all__ = ["CheckpointError", "KEEP", "recipe_hash", "write_manifest", "verify_manifest", "save_checkpoint",
           "find_checkpoint", "load_checkpoint", "list_checkpoints", "trim_log"]

KEEP = 2
PREFIX = "step-"
MANIFEST = "manifest.json"
FORMAT = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed from (damaged, of another recipe or process count, older format)."""


def recipe_hash(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_manifest(folder: Path, **fields) -> None:
    """``manifest.json`` listing every file of ``folder`` (relative name -> bytes, sha256), written last."""
    files = {str(p.relative_to(folder)): {"bytes": p.stat().st_size, "sha256": _sha256(p)}
             for p in sorted(folder.rglob("*")) if p.is_file() and p.name != MANIFEST}
    (folder / MANIFEST).write_text(json.dumps({"format": FORMAT, **fields, "files": files}, indent=2))


def verify_manifest(folder: Path, **expected) -> tuple[dict | None, str | None]:
    """(manifest, None) when ``folder`` matches its manifest and ``expected`` fields, else (None, the problem)."""
    mf = folder / MANIFEST
    if not mf.is_file():
        return None, f"no {MANIFEST} (an interrupted or older save)"
    try:
        manifest = json.loads(mf.read_text())
        files = manifest["files"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
        return None, f"{MANIFEST} is damaged"
    for key, value in expected.items():
        if manifest.get(key) != value:
            return None, f"{key} is {manifest.get(key)!r} in {MANIFEST}, expected {value!r}"
    for name, info in files.items():
        f = folder / name
        if not f.is_file():
            return None, f"{name} is missing"
        if f.stat().st_size != info.get("bytes"):
            return None, f"{name} has {f.stat().st_size} bytes, the manifest says {info.get('bytes')} (truncated?)"
        if _sha256(f) != info.get("sha256"):
            return None, f"{name} does not match its sha256 in the manifest (damaged)"
    return manifest, None


# ---- stage-2 state ------------------------------------------------------------------------------------
def _trainable(model) -> dict[str, torch.nn.Parameter]:
    """The parameters a checkpoint holds: those that train, plus the (small) projector whether it trains or not."""
    return {n: p for n, p in model.named_parameters() if p.requires_grad or n.startswith("projector.")}


def _rng_state() -> dict:
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "random": random.getstate(), "numpy": (name, keys.tolist(), pos, has_gauss, cached)}


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    version, internal, gauss = state["random"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))


def list_checkpoints(root: Path) -> list[Path]:
    """Completed checkpoint folders under ``root``, newest first."""
    found = []
    for p in root.glob(PREFIX + "*") if root.is_dir() else []:
        tail = p.name[len(PREFIX):]
        if p.is_dir() and tail.isdigit():
            found.append((int(tail), p))
    return [p for _, p in sorted(found, reverse=True)]


def save_checkpoint(root: Path, step: int, *, accelerator, model, optimizer, scheduler, state: dict,
                    recipe_key: dict) -> Path | None:
    """Write checkpoint ``step`` (every process calls this; each writes its RNG state, the main one the rest)."""
    from safetensors.torch import save_file

    from ..model.folder import publish

    tmp = root / f".{PREFIX}{step:08d}.tmp"
    if accelerator.is_main_process:
        for stale in root.glob(f".{PREFIX}*.tmp"):       # left by an interrupted save
            shutil.rmtree(stale, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    torch.save(_rng_state(), tmp / f"rng-{accelerator.process_index}.pt")
    accelerator.wait_for_everyone()
    target = root / f"{PREFIX}{step:08d}"
    if accelerator.is_main_process:
        save_file({n: p.detach().cpu().contiguous() for n, p in _trainable(model).items()},
                  str(tmp / "trainable.safetensors"))
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
        (tmp / "state.json").write_text(json.dumps({"step": step, **state}))
        (tmp / "recipe.json").write_text(json.dumps(recipe_key, indent=2))
        write_manifest(tmp, step=step, recipe_sha256=recipe_hash(recipe_key), processes=accelerator.num_processes)
        publish(tmp, target)
        for old in list_checkpoints(root)[KEEP:]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return target


def find_checkpoint(root: Path, recipe_key: dict, processes: int, say: Callable[[str], None],
                    check_recipe: Callable[[Path], None]) -> Path | None:
    """The newest usable checkpoint under ``root`` (None when there is none at all).

    A damaged newest checkpoint is passed over for the previous one (``say`` tells which was chosen); a
    checkpoint of another recipe (``check_recipe`` raises) or none usable stops with a one-line error."""
    if (root / "step.json").is_file() and not list_checkpoints(root):
        raise CheckpointError(f"{root}: checkpoint in an older format (no manifest, holds the base LLM); delete it "
                              "or train into another --output-dir")
    damaged = []
    for folder in list_checkpoints(root):
        manifest, problem = verify_manifest(folder, step=int(folder.name[len(PREFIX):]), processes=processes)
        if problem is None:
            check_recipe(folder)                  # another recipe: one line naming what changed
            if manifest.get("recipe_sha256") != recipe_hash(recipe_key):
                raise CheckpointError(f"{folder}: checkpoint was made with a different recipe; delete it or train "
                                      "into another --output-dir")
            if damaged:
                say(f"{root}: skipped damaged checkpoint {'; '.join(damaged)}; resuming from {folder.name}")
            return folder
        damaged.append(f"{folder.name} ({problem})")
    if damaged:
        raise CheckpointError(f"{root}: no usable checkpoint: {'; '.join(damaged)}; delete them or train into "
                              "another --output-dir")
    return None


def load_checkpoint(folder: Path, *, accelerator, model, optimizer, scheduler) -> dict:
    """Restore weights, optimizer, scheduler and this process's RNG from a verified checkpoint; its state."""
    from safetensors.torch import load_file

    from ..model.weights import check_tensors

    weights = load_file(str(folder / "trainable.safetensors"))
    params = _trainable(model)
    check_tensors(folder, folder / "trainable.safetensors", weights, params)
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(weights[name].to(p.device, p.dtype))
    optimizer.load_state_dict(torch.load(folder / "optimizer.pt", map_location="cpu", weights_only=True))
    scheduler.load_state_dict(torch.load(folder / "scheduler.pt", map_location="cpu", weights_only=True))
    _set_rng_state(torch.load(folder / f"rng-{accelerator.process_index}.pt", weights_only=True))
    return json.loads((folder / "state.json").read_text())


def trim_log(path: Path, accelerator, keep) -> None:
    """Keep only the rows of ``log.jsonl`` for which ``keep(row)`` holds (a resumed run continues the log
    exactly: rows written after the checkpoint it resumes from are dropped, so none is written twice)."""
    if not accelerator.is_main_process or not path.is_file():
        return
    rows = []
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:      # a row cut short by the interruption
            continue
        if isinstance(row, dict) and keep(row):
            rows.append(line)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(r + "\n" for r in rows))
    tmp.replace(path)
