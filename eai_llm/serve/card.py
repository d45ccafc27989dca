"""What ``GET /v1/model`` says about a model directory: label sets, settings and a model-card summary, with
no server path in it."""

from __future__ import annotations

from pathlib import Path

import yaml

CARD_FILES = ("README.md", "MODEL_CARD.md")


def card_summary(model_dir: Path) -> dict:
    """``{"title", "summary", "metadata"}`` of the model card (a hub-style YAML front matter is parsed into
    ``metadata``); empty strings when the directory has no card."""
    for name in CARD_FILES:
        path = model_dir / name
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            break
    else:
        return {"title": "", "summary": "", "metadata": {}}
    metadata: dict = {}
    if text.startswith("---\n") and "\n---" in text[4:]:
        head, text = text[4:].split("\n---", 1)
        try:
            loaded = yaml.safe_load(head)
            metadata = loaded if isinstance(loaded, dict) else {}
        except yaml.YAMLError:
            metadata = {}
    title, paragraphs, current = "", [], []
    for line in text.splitlines():
        if line.startswith("# ") and not title:
            title = line[2:].strip()
        elif line.strip() and not line.startswith("#"):
            current.append(line.strip())
        elif current:
            paragraphs.append(" ".join(current))
            current = []
    if current:
        paragraphs.append(" ".join(current))
    return {"title": title, "summary": paragraphs[0] if paragraphs else "", "metadata": metadata}


def public_name(name_or_path: str) -> str:
    """A hub id or a short name as is; a local path reduced to its last part (never a server path)."""
    if "/" in name_or_path and (name_or_path.startswith(("/", ".", "~")) or Path(name_or_path).exists()):
        return Path(name_or_path).name
    return name_or_path
