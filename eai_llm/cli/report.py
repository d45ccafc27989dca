"""The batch report of `eai-llm interpret`: input expansion, one row per clip, CSV / JSONL written atomically."""

from __future__ import annotations

import csv
import glob
import io
import json
import os
import tempfile
from pathlib import Path

from ._common import UserError

#: File suffixes a folder is searched for (recursively).
CLIP_SUFFIXES = (".bvh", ".npz", ".npy", ".csv")
REPORT_SUFFIXES = (".csv", ".jsonl")

#: The fields of one report row (CSV: probabilities become one ``p_<label>`` / ``llm_p_<label>`` column each).
ROW_FIELDS = ("source", "label", "probabilities", "llm_probabilities", "explanation", "cues", "faithfulness",
              "duration_s", "layout", "in_distribution", "ood_score", "warnings", "error")

_GLOB_CHARS = set("*?[")


def expand_inputs(inputs: list[str]) -> list[str]:
    """Files as given, folders searched recursively for clip suffixes, globs expanded (``**`` recursive); in
    order, without duplicates. A missing file, an empty folder or a glob matching nothing is refused."""
    out: list[str] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(str(p) for p in path.rglob("*") if p.is_file() and p.suffix.lower() in CLIP_SUFFIXES)
            if not found:
                raise UserError(f"{item}: no clips ({', '.join(CLIP_SUFFIXES)}) in this folder")
            out.extend(found)
        elif path.is_file():
            out.append(item)
        elif _GLOB_CHARS & set(item):
            found = sorted(p for p in glob.glob(item, recursive=True) if Path(p).is_file())
            if not found:
                raise UserError(f"{item}: matches no file")
            out.extend(found)
        else:
            raise UserError(f"{item}: no such file or folder")
    seen: set[str] = set()
    return [p for p in out if not (p in seen or seen.add(p))]


def check_report_path(out: str) -> Path:
    path = Path(out)
    if path.suffix.lower() not in REPORT_SUFFIXES:
        raise UserError(f"--out {out}: the report must end in {' or '.join(REPORT_SUFFIXES)}")
    if path.is_dir():
        raise UserError(f"--out {out}: is a directory")
    if not path.parent.is_dir():
        raise UserError(f"--out {out}: the folder {path.parent} does not exist")
    return path


def result_row(source: str, res=None, error: str | None = None) -> dict:
    """One report row: from an :class:`~eai_llm.interpreter.Interpretation`, or an error for a failed file."""
    if res is None:
        return {**dict.fromkeys(ROW_FIELDS), "source": source, "warnings": [], "error": error}
    return {"source": source, "label": res.label, "probabilities": res.probabilities,
            "llm_probabilities": res.llm_probabilities, "explanation": res.explanation, "cues": res.cues,
            "faithfulness": res.faithfulness, "duration_s": res.duration_s, "layout": res.layout,
            "in_distribution": res.in_distribution, "ood_score": res.ood_score,
            "warnings": list(res.warnings), "error": error}


def _csv_text(rows: list[dict], labels: list[str]) -> str:
    header = (["source", "label"] + [f"p_{l}" for l in labels] + [f"llm_p_{l}" for l in labels]
              + ["explanation", "cues", "faithfulness", "duration_s", "layout", "in_distribution", "ood_score",
                 "warnings", "error"])
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    for r in rows:
        probs, llm = r["probabilities"] or {}, r["llm_probabilities"] or {}
        w.writerow([r["source"], r["label"] or ""]
                   + [_num(probs.get(l)) for l in labels] + [_num(llm.get(l)) for l in labels]
                   + [r["explanation"] or "", json.dumps(r["cues"]) if r["cues"] else "", _num(r["faithfulness"]),
                      _num(r["duration_s"]), r["layout"] or "",
                      "" if r["in_distribution"] is None else str(bool(r["in_distribution"])).lower(),
                      _num(r["ood_score"]), "; ".join(r["warnings"] or []), r["error"] or ""])
    return buf.getvalue()


def _num(x) -> str:
    return "" if x is None else f"{x:.6g}"


def write_report(path: Path, rows: list[dict], labels: list[str]) -> None:
    """Write the report atomically: a temporary file beside it, renamed into place (never half-written)."""
    text = (_csv_text(rows, labels) if path.suffix.lower() == ".csv"
            else "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise UserError(f"{path}: cannot write the report ({err.strerror or err})") from None
        raise
