"""Writing a model directory the way the Hugging Face hub expects it, atomically.

- :func:`publish` makes a finished temporary folder readable (files 0644, folders 0755: ``tempfile.mkdtemp``
  creates 0700 and safetensors writes 0600), fsyncs it and renames it into place (the old one is replaced only
  once the new one is complete).
- :func:`hub_adapter_config` sets the adapter's ``base_model_name_or_path`` to a hub id (peft writes the local
  folder the base was loaded from: a machine path). The local resolution stays in our ``config.json``.
- :func:`hub_layout_problems` checks a folder against what ``push_to_hub`` / ``upload_folder`` uploads: a
  ``README.md`` card with a metadata block at the top level, every other file regular, readable and not ignored.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

__all__ = ["new_temp_dir", "publish", "fsync_tree", "set_modes", "hub_adapter_config", "hub_layout_problems",
           "FILE_MODE", "DIR_MODE"]

FILE_MODE, DIR_MODE = 0o644, 0o755


def new_temp_dir(target: Path) -> Path:
    """An empty hidden sibling folder of ``target`` to build it in (same file system, so the rename is atomic)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))


def set_modes(root: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        os.chmod(dirpath, DIR_MODE)
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), FILE_MODE)


def _fsync(path: str, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    """Flush every file and folder under ``root`` to disk (so a rename after it never exposes empty files)."""
    for dirpath, _, filenames in os.walk(root, topdown=False):
        for name in filenames:
            _fsync(os.path.join(dirpath, name))
        _fsync(dirpath, directory=True)


def publish(tmp: Path, target: Path) -> Path:
    """Rename the complete folder ``tmp`` to ``target`` (replacing an older ``target`` only after that)."""
    set_modes(tmp)
    fsync_tree(tmp)
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
    os.replace(tmp, target)
    _fsync(str(target.parent), directory=True)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return target


def hub_adapter_config(adapter_dir: Path, base_model: str | None) -> None:
    """Rewrite ``adapter_config.json``'s ``base_model_name_or_path`` as a hub id (None where there is none)."""
    cfg_file = adapter_dir / "adapter_config.json"
    cfg = json.loads(cfg_file.read_text())
    cfg["base_model_name_or_path"] = base_model
    cfg_file.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")


def hub_layout_problems(folder: Path) -> list[str]:
    """What keeps ``folder`` from being uploaded as a hub model repository as it is (empty: nothing)."""
    from .card import CARD_NAME, split_card

    folder = Path(folder)
    problems = []
    card = folder / CARD_NAME
    if not card.is_file():
        problems.append(f"{CARD_NAME}: missing (the hub shows it as the model card)")
    else:
        meta, _ = split_card(card.read_text())
        for key in ("license", "library_name", "tags"):
            if key not in meta:
                problems.append(f"{CARD_NAME}: no '{key}' in the metadata block")
    if not (folder / "config.json").is_file():
        problems.append("config.json: missing")
    adapter_cfg = folder / "adapter" / "adapter_config.json"
    if adapter_cfg.is_file():
        base = json.loads(adapter_cfg.read_text()).get("base_model_name_or_path")
        if base and (base.startswith(("/", "~", ".")) or Path(base).exists()):
            problems.append(f"adapter/adapter_config.json: base_model_name_or_path is a machine path ({base})")
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if p.is_symlink() or not (p.is_file() or p.is_dir()):
            problems.append(f"{rel}: not a plain file or folder")
        elif any(part.startswith(".") for part in rel.parts):
            problems.append(f"{rel}: hidden (left over from an interrupted write?)")
        elif (p.stat().st_mode & 0o777) != (DIR_MODE if p.is_dir() else FILE_MODE):
            problems.append(f"{rel}: mode {oct(p.stat().st_mode & 0o777)}")
    return problems
