"""The EAI-LLM web demo: upload a 3D skeleton clip, see the emotion, the explanation and the evidence.

    eai-llm demo [--model DIR] [--host 127.0.0.1] [--port 7860]      # or: make demo [MODEL=dir]

One process. :func:`build_demo` builds the Gradio interface from an :class:`~eai_llm.interpreter.EmotionInterpreter`
(or a function that loads one, or a model directory: loaded once, in the background, with a visible status).
:func:`serve` resolves the model, starts loading it and launches the server on 127.0.0.1 unless told otherwise.

The request logic lives in :class:`DemoBackend` and does not need Gradio: it reads the upload (one-line
:class:`~eai_llm.skeleton.errors.ClipError` messages naming the uploaded file, size and length limits), renders the
skeleton animation (:func:`render_animation`), classifies the clip, streams the explanation from a worker thread,
builds the evidence table (:func:`evidence_rows`) and the JSON export (:func:`export_json`). Each step yields a
dict of updates; :func:`build_demo` maps the keys onto components.

Gradio is imported only inside :func:`build_demo` / :func:`serve`, so this module imports without it.
"""

from __future__ import annotations

import json
import logging
import math
import os
import queue
import shutil
import tempfile
import threading
import time
import traceback
import uuid
from collections import deque
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence, Union

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import gradio as gr
    import pandas as pd

    from .interpreter import EmotionInterpreter, Interpretation
    from .skeleton.clip import SkeletonClip

__all__ = [
    "DemoLimits", "ModelHolder", "DemoBackend", "build_demo", "serve", "launch", "render_animation",
    "project_skeleton", "evidence_rows", "cue_rows", "export_json", "read_upload", "user_message",
    "format_cue_value", "find_examples", "resolve_model_dir", "table_frame", "timeline_frame", "clip_info",
    "EVIDENCE_HEADERS", "CUE_HEADERS",
]

log = logging.getLogger("eai_llm.demo")

#: Where the bundled example clips live in a source checkout (absent in a plain wheel install).
EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "demo" / "examples"
#: Columns of the evidence table (one row per cue the explanation cites).
EVIDENCE_HEADERS = ["claim", "cue", "measured", "typical (p10–p90)", "z", "supported"]
#: Columns of the table of every measured cue.
CUE_HEADERS = ["cue", "measured", "typical (p10–p90)", "z", "what it tends to mean"]
CLIP_SUFFIXES = (".bvh", ".npz", ".npy", ".csv")
AUTO = "auto"

InterpreterSource = Union["EmotionInterpreter", Callable[[], "EmotionInterpreter"], str, PathLike]


# =============================================================================================
# limits and errors
# =============================================================================================
@dataclass(frozen=True)
class DemoLimits:
    """What one request may ask of the server (shown in the page)."""

    max_upload_mb: float = 20.0
    max_seconds: float = 120.0

    def __post_init__(self) -> None:
        if not (self.max_upload_mb > 0 and self.max_seconds > 0):
            raise ValueError(f"demo limits must be positive, got {self.max_upload_mb} MB and {self.max_seconds} s")

    @property
    def max_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    def describe(self) -> str:
        """E.g. ``"files up to 20 MB, clips up to 2 minutes"``."""
        secs = self.max_seconds
        length = f"{secs / 60:g} minutes" if secs >= 60 and secs % 60 == 0 else f"{secs:g} s"
        return f"files up to {self.max_upload_mb:g} MB, clips up to {length}"


def user_message(err: BaseException, path: str | PathLike | None = None) -> str:
    """One line for the page: the uploaded file's own name (not the server's temp path), place and reason."""
    from .skeleton.errors import ClipError

    name = Path(path).name if path else None
    if isinstance(err, ClipError):
        source = Path(err.source).name if err.source not in ("<array>", "") else (name or err.source)
        return ": ".join([source] + ([str(err.place)] if err.place else []) + [err.reason])
    if isinstance(err, FileNotFoundError):
        return f"{name or err.filename}: file not found"
    text = " ".join(str(err).split()) or type(err).__name__
    if path:
        text = text.replace(str(path), name or "")
    if isinstance(err, RuntimeError):
        return text
    if isinstance(err, (ValueError, OSError)):
        return text if name and text.startswith(name) else f"{name or 'upload'}: {text}"
    return f"{name or 'upload'}: internal error ({type(err).__name__}: {text}); the server logged the details"


def read_upload(path: str | PathLike, layout: str | None = AUTO, limits: DemoLimits = DemoLimits()) -> "SkeletonClip":
    """Read an uploaded clip within the demo's limits; raises :class:`ClipError` (one line) otherwise.

    layout: a layout name, or ``"auto"`` / None to take it from the file.
    """
    from .skeleton.errors import ClipLimitError
    from .skeleton.io import load_clip

    p = Path(path)
    size = p.stat().st_size
    if size > limits.max_bytes:
        raise ClipLimitError(p.name, "file size", f"{size / 2**20:.1f} MB, the demo accepts files up to "
                                                  f"{limits.max_upload_mb:g} MB")
    clip = load_clip(p, layout=None if layout in (None, "", AUTO) else layout, max_bytes=limits.max_bytes)
    if clip.duration > limits.max_seconds:
        raise ClipLimitError(p.name, "duration", f"{clip.duration:.1f} s, the demo accepts clips up to "
                                                 f"{limits.max_seconds:g} s")
    return clip


# =============================================================================================
# skeleton animation
# =============================================================================================
#: GIF palette: background, floor grid, shadow, centre bones, left bones, right bones, joints, text.
_PALETTE = [(248, 250, 252), (214, 220, 230), (203, 213, 225), (71, 85, 105), (37, 99, 235), (234, 88, 12),
            (15, 23, 42), (100, 116, 139)]
_BG, _GRID, _SHADOW, _CENTRE, _LEFT, _RIGHT, _JOINT, _TEXT = range(8)


def _drawn_edges(joint_mask: np.ndarray) -> np.ndarray:
    """(E, 2) unified (parent, child) pairs to draw: each present joint joins its nearest present ancestor."""
    from .skeleton.layouts import UNIFIED

    edges = []
    for child in range(UNIFIED.num_joints):
        if not joint_mask[child]:
            continue
        parent = UNIFIED.parents[child]
        while parent >= 0 and not joint_mask[parent]:
            parent = UNIFIED.parents[parent]
        if parent >= 0:
            edges.append((parent, child))
    return np.array(edges, dtype=np.int64).reshape(-1, 2)


def _camera(yaw_deg: float, elevation_deg: float) -> np.ndarray:
    """3x3 world -> camera rotation: yaw about Y, then tilt about X (camera x right, y up, z towards viewer)."""
    a, e = math.radians(yaw_deg), math.radians(elevation_deg)
    ry = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    rx = np.array([[1, 0, 0], [0, math.cos(e), -math.sin(e)], [0, math.sin(e), math.cos(e)]])
    return rx @ ry


@dataclass
class Projection:
    """A clip projected for drawing: pixel coordinates per kept frame, plus what to draw them with."""

    joints: np.ndarray        # (F, 23, 2) pixel x, y
    depth: np.ndarray         # (F, 23) larger = farther from the viewer
    edges: np.ndarray         # (E, 2) unified joint pairs
    edge_colour: np.ndarray   # (E,) palette index
    grid: np.ndarray          # (F, L, 2, 2) floor-line end points in pixels
    shadow: tuple[float, float, float, float]
    times: np.ndarray         # (F,) seconds
    frame_ms: int             # display time per frame
    size: tuple[int, int]


def project_skeleton(clip: "SkeletonClip", *, size: int = 360, max_frames: int = 150, target_fps: float = 12.5,
                     yaw_deg: float = -35.0, elevation_deg: float = 14.0) -> Projection:
    """Unify, normalise (unit height, facing +Z, floor y=0), subsample and project a clip orthographically.

    The camera follows the pelvis horizontally (the floor grid slides instead, so walking stays visible) and
    looks from the front-left, slightly from above. Everything is vectorised over frames and joints.
    """
    from .skeleton.layouts import UNIFIED
    from .skeleton.unify import normalise, to_unified

    unified, mask = to_unified(clip)
    pos = normalise(unified).positions.astype(np.float64)
    step = max(1, round(clip.fps / target_fps), math.ceil(len(pos) / max_frames))
    keep = np.arange(0, len(pos), step)
    pos = pos[keep]
    root = pos[:, UNIFIED.index["pelvis"], :].copy()
    root[:, 1] = 0.0
    pos = pos - root[:, None, :]                            # follow the pelvis on the floor plane
    rot = _camera(yaw_deg, elevation_deg)
    cam = pos @ rot.T                                       # (F, 23, 3)
    # floor grid around the body, sliding against the walking direction
    spacing, half = 0.5, 5
    ticks = np.arange(-half, half + 1) * spacing
    off_x = -np.mod(root[:, 0], spacing)                    # (F,)
    off_z = -np.mod(root[:, 2], spacing)
    ext = half * spacing
    n, f = len(ticks), len(pos)
    lines = np.zeros((f, 2 * n, 2, 3))
    lines[:, :n, :, 0] = (ticks[None, :] + off_x[:, None])[:, :, None]
    lines[:, :n, 0, 2], lines[:, :n, 1, 2] = -ext, ext
    lines[:, n:, :, 2] = (ticks[None, :] + off_z[:, None])[:, :, None]
    lines[:, n:, 0, 0], lines[:, n:, 1, 0] = -ext, ext
    grid_cam = lines @ rot.T
    # fit the skeleton (all kept frames) into the image with a margin
    xy = cam[..., :2][:, mask] if mask.any() else cam[..., :2]
    lo, hi = xy.reshape(-1, 2).min(axis=0), xy.reshape(-1, 2).max(axis=0)
    extent = max(float((hi - lo).max()), 1.0)
    scale = 0.82 * size / extent
    centre = (lo + hi) / 2

    def to_px(p: np.ndarray) -> np.ndarray:
        return np.stack([size / 2 + (p[..., 0] - centre[0]) * scale, size / 2 - (p[..., 1] - centre[1]) * scale], -1)

    edges = _drawn_edges(mask)
    names = UNIFIED.joint_names
    colour = np.array([_LEFT if names[c].startswith("l_") else _RIGHT if names[c].startswith("r_") else _CENTRE
                       for _, c in edges], dtype=np.int64)
    sx, sy = to_px(np.zeros(3) @ rot.T)
    rx, ry = 0.18 * scale, 0.18 * scale * math.sin(math.radians(elevation_deg))
    frame_ms = max(20, int(round(step / clip.fps * 100)) * 10)
    return Projection(to_px(cam), -cam[..., 2], edges, colour, to_px(grid_cam),
                      (float(sx - rx), float(sy - ry), float(sx + rx), float(sy + ry)),
                      keep / clip.fps, frame_ms, (size, size))


def _draw_frames(proj: Projection) -> list:
    """PIL palette images, one per kept frame (drawing is the only per-frame Python loop)."""
    from PIL import Image, ImageDraw

    palette = [v for rgb in _PALETTE for v in rgb]
    width = max(2, proj.size[0] // 110)
    radius = width * 0.9
    head_r = width * 2.6
    # draw far bones first: order per frame by the mean depth of each bone's two joints (vectorised)
    bone_depth = proj.depth[:, proj.edges].mean(axis=2) if len(proj.edges) else np.zeros((len(proj.joints), 0))
    order = np.argsort(-bone_depth, axis=1)
    head = 4  # unified index of "head"
    frames = []
    for f in range(len(proj.joints)):
        img = Image.new("P", proj.size, _BG)
        img.putpalette(palette)
        d = ImageDraw.Draw(img)
        for (x0, y0), (x1, y1) in proj.grid[f]:
            d.line((x0, y0, x1, y1), fill=_GRID, width=1)
        d.ellipse(proj.shadow, fill=_SHADOW)
        pts = proj.joints[f]
        for e in order[f]:
            a, b = proj.edges[e]
            d.line((*pts[a], *pts[b]), fill=int(proj.edge_colour[e]), width=width)
        for x, y in pts[np.unique(proj.edges)] if len(proj.edges) else pts[:1]:
            d.ellipse((x - radius, y - radius, x + radius, y + radius), fill=_JOINT)
        hx, hy = pts[head]
        d.ellipse((hx - head_r, hy - head_r, hx + head_r, hy + head_r), outline=_CENTRE, width=width)
        d.text((8, 6), f"{proj.times[f]:5.1f} s", fill=_TEXT)
        frames.append(img)
    return frames


def render_animation(clip: "SkeletonClip", path: str | PathLike, *, size: int = 360, max_frames: int = 150,
                     target_fps: float = 12.5) -> Path:
    """Write an animated GIF of the clip's unified, normalised skeleton to ``path``; returns the path.

    Frames are subsampled to about ``target_fps`` and at most ``max_frames`` (long clips play faster-stepped,
    still in real time); a 10 s clip renders in well under a second.
    """
    proj = project_skeleton(clip, size=size, max_frames=max_frames, target_fps=target_fps)
    frames = _draw_frames(proj)
    path = Path(path)
    frames[0].save(path, format="GIF", save_all=True, append_images=frames[1:], duration=proj.frame_ms, loop=0,
                   optimize=False, disposal=1)
    return path


# =============================================================================================
# tables and export
# =============================================================================================
def format_cue_value(cue: str, value: float | None, unit: str | None = None) -> str:
    """A cue value as shown to people: its registry format and unit (``"31.0°"``, ``"0.62 m/s"``, ``"0.12"``)."""
    from .skeleton.cues import CUES

    if value is None or not math.isfinite(float(value)):
        return "not measured"
    spec = CUES.get(cue)
    unit = spec.unit if unit is None and spec else (unit or "")
    text = f"{float(value):{spec.fmt if spec else '.3g'}}"
    if unit == "deg":
        return f"{text}°"
    return text if unit in ("", "ratio") else f"{text} {unit}"


def _typical(cue: str, stats: Mapping[str, Mapping[str, float]] | None, typical=None, unit: str | None = None) -> str:
    if typical is None and stats and "p10" in stats.get(cue, {}) and "p90" in stats.get(cue, {}):
        typical = (stats[cue]["p10"], stats[cue]["p90"])
    if typical is None:
        return "–"
    lo, hi = typical
    return f"{format_cue_value(cue, lo, unit)} – {format_cue_value(cue, hi, unit)}"


def evidence_rows(evidence: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    """One row per cited cue: the words, the cue, its measured value, the typical range, z, supported yes/no."""
    rows = []
    for e in evidence:
        unit = e.get("unit")
        z = e.get("z")
        rows.append([
            str(e.get("phrase", "")), str(e.get("cue", "")), format_cue_value(e["cue"], e.get("value"), unit),
            _typical(e["cue"], None, e.get("typical"), unit), "–" if z is None else f"{float(z):+.1f}",
            "yes" if e.get("supported") else "no",
        ])
    return rows


def cue_rows(cues: Mapping[str, float], stats: Mapping[str, Mapping[str, float]] | None) -> list[list[str]]:
    """Every measured cue (registry order): value, typical range, z against the model's reference statistics."""
    from .skeleton.cues import CUES

    rows = []
    for name in [n for n in CUES if n in cues] + sorted(set(cues) - set(CUES)):
        value = cues[name]
        ref = (stats or {}).get(name, {})
        z = (value - ref["mean"]) / ref["std"] if ref.get("std") and "mean" in ref else None
        rows.append([name, format_cue_value(name, value), _typical(name, stats),
                     "–" if z is None or not math.isfinite(z) else f"{z:+.1f}",
                     CUES[name].meaning if name in CUES else ""])
    return rows


def _finite(obj: Any) -> Any:
    """JSON-safe: tuples -> lists, NaN/inf -> None, numpy scalars -> Python."""
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(float(obj)) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def clip_info(clip: "SkeletonClip", name: str | None = None) -> dict[str, Any]:
    """Facts about the clip shown in the page and written to the export."""
    return {
        "file": name or Path(str(clip.meta.get("source", "<clip>"))).name,
        "layout": clip.layout.name, "joints": clip.num_joints, "frames": clip.num_frames,
        "fps": round(float(clip.fps), 3), "duration_s": round(float(clip.duration), 3),
        "units": clip.meta.get("units", "m"), "units_assumed": bool(clip.meta.get("units_assumed", False)),
        "fps_assumed": bool(clip.meta.get("fps_assumed", False)),
    }


def export_json(result: "Interpretation", info: Mapping[str, Any], path: str | PathLike, *,
                model: str | None = None) -> Path:
    """Write the interpretation with the clip facts and the model to ``path`` (strict JSON); returns the path."""
    from . import __version__

    doc = {"eai_llm_version": __version__, "model": model, "clip": dict(info), "interpretation": result.to_dict()}
    path = Path(path)
    path.write_text(json.dumps(_finite(doc), indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return path


def table_frame(rows: Sequence[Sequence[str]] | None, headers: Sequence[str]) -> "pd.DataFrame":
    """Rows as a DataFrame with the given headers (an empty table keeps its headers)."""
    import pandas as pd

    return pd.DataFrame([list(r) for r in rows or []], columns=list(headers))


def timeline_frame(timeline: Sequence[Mapping[str, Any]]) -> "pd.DataFrame | None":
    """Long format (time_s, emotion, probability) for the timeline plot; None for fewer than two windows."""
    import pandas as pd

    if len(timeline) < 2:
        return None
    rows = [{"time_s": round((w["start_s"] + w["end_s"]) / 2, 3), "emotion": label, "probability": float(p)}
            for w in timeline for label, p in w["probabilities"].items()]
    return pd.DataFrame(rows)


# =============================================================================================
# model loading
# =============================================================================================
def resolve_model_dir(model: str | PathLike | None) -> Path:
    """The model directory to serve: ``model``, or the bundled default; one-line errors when it is not one."""
    from .interpreter import default_model_dir

    if model is None:
        return default_model_dir()
    path = Path(model)
    if not path.exists():
        raise FileNotFoundError(2, "no such model directory", str(path))
    if not (path / "config.json").is_file():
        raise ValueError(f"{path}: not a model directory (no config.json); train one with "
                         "`eai-llm train --config configs/default.yaml`")
    return path


def _quiet_loading() -> None:
    import warnings

    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning)


class ModelHolder:
    """Loads the interpreter once (in the background or on first use), warms it up and reports its status.

    source: an :class:`EmotionInterpreter` (ready at once), a function returning one, or a model directory.
    warmup: run one tiny interpretation after loading (part of the load time shown in the page).
    """

    def __init__(self, source: InterpreterSource, name: str | None = None, *, warmup: bool = True):
        from .interpreter import EmotionInterpreter

        self._interp: EmotionInterpreter | None = None
        self._loader: Callable[[], EmotionInterpreter] | None = None
        if isinstance(source, EmotionInterpreter):
            self._interp = source
            name = name or str(source.model_dir or "in-memory model")
        elif isinstance(source, (str, PathLike)):
            path = Path(source)
            self._loader = lambda: EmotionInterpreter.from_pretrained(path)
            name = name or str(path)
        elif callable(source):
            self._loader = source
        else:
            raise TypeError(f"build_demo expects an EmotionInterpreter, a loader or a model directory, got {source!r}")
        self.name = name or "model"
        self.warmup = warmup
        self.error: str | None = None
        self.load_seconds: float | None = None
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._started = False
        if self._interp is not None:
            self._done.set()

    @property
    def state(self) -> str:
        """``"ready"``, ``"failed"``, ``"loading"`` or ``"idle"`` (not asked for yet)."""
        if self._interp is not None:
            return "ready"
        if self.error is not None:
            return "failed"
        return "loading" if self._started else "idle"

    def start(self) -> "ModelHolder":
        """Load in a background thread (returns at once)."""
        with self._lock:
            if self._started or self._done.is_set():
                return self
            self._started = True
        # not a daemon: stopping the server while torch is loading waits for it instead of aborting the process
        threading.Thread(target=self._load, name="eai-llm-model-loader", daemon=False).start()
        return self

    def _load(self) -> None:
        t0 = time.perf_counter()
        try:
            _quiet_loading()
            interp = self._loader()
            if self.warmup:
                _warm_up(interp)
            self._interp = interp
            self.load_seconds = time.perf_counter() - t0
            log.info("model %s loaded in %.1f s", self.name, self.load_seconds)
        except Exception as err:  # shown in the page; the server keeps serving
            log.exception("model %s failed to load", self.name)
            self.error = " ".join(f"{type(err).__name__}: {err}".split())
        finally:
            self._done.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until a started load has finished (either way); True when nothing is loading any more."""
        return self._done.wait(timeout) if self._started else True

    def get(self, timeout: float | None = None) -> "EmotionInterpreter":
        """The interpreter, loading it first if needed; raises RuntimeError when loading failed or timed out."""
        self.start()
        if not self._done.wait(timeout):
            raise RuntimeError(f"the model {self.name} is still loading; try again in a moment")
        if self._interp is None:
            raise RuntimeError(f"the model {self.name} failed to load: {self.error}")
        return self._interp

    def status_markdown(self) -> str:
        """One status line for the page."""
        state = self.state
        if state == "ready":
            interp = self._interp
            labels = ", ".join(next(iter(interp.label_sets.values()), []))
            took = f" · loaded in {self.load_seconds:.1f} s" if self.load_seconds else ""
            return f"{_dot('#16a34a')} **Model ready** · `{self.name}` · labels: {labels}{took}"
        if state == "failed":
            error = self.error if len(self.error or "") <= 300 else self.error[:300] + " …"
            return f"{_dot('#dc2626')} **Model failed to load** · `{self.name}` · {error}"
        return f"{_dot('#f59e0b')} **Loading the model** · `{self.name}` … (uploads wait for it)"


def _warm_up(interp: "EmotionInterpreter") -> None:
    """One tiny classification + generation, so that the first user does not pay the first-call costs
    (measured with SmolLM2 on a busy 2-core CPU: a first classification of 3.6-8 s instead of 2.6 s)."""
    from .data.synthetic import synthetic_clip

    task = next(iter(interp.label_sets), "emotion")
    interp.interpret(synthetic_clip("normal", "unified", seconds=4.0, fps=20.0), task=task, max_new_tokens=2)


def _dot(colour: str) -> str:
    return f'<span style="color:{colour}">●</span>'



# =============================================================================================
# one request
# =============================================================================================
class DemoBackend:
    """The demo's request logic, without Gradio: :meth:`run` yields dicts of display updates.

    Keys: ``error`` (one line or None), ``clip`` (markdown), ``animation`` (GIF path), ``probabilities``
    (label -> p), ``timeline`` (DataFrame or None), ``explanation`` (markdown, streamed), ``evidence`` and ``cues``
    (table rows), ``json`` (export path), ``status`` (model status markdown), ``busy`` (bool).
    """

    def __init__(self, model: InterpreterSource | ModelHolder, *, limits: DemoLimits = DemoLimits(),
                 task: str = "emotion", max_new_tokens: int = 40, work_dir: str | PathLike | None = None,
                 keep_results: int = 64):
        self.holder = model if isinstance(model, ModelHolder) else ModelHolder(model)
        self.limits = limits
        self.task = task
        self.max_new_tokens = max_new_tokens
        self.work_dir = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="eai-llm-demo-"))
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._model_lock = threading.Lock()   # one generation at a time on the shared model
        self._results: deque[Path] = deque()
        self.last_timings: dict[str, float] = {}
        self._keep = keep_results

    # ---- helpers ------------------------------------------------------------------------------
    def _request_dir(self) -> Path:
        """A fresh folder per request; the oldest are removed so the disk use stays bounded."""
        d = self.work_dir / uuid.uuid4().hex[:12]
        d.mkdir()
        self._results.append(d)
        while len(self._results) > self._keep:
            shutil.rmtree(self._results.popleft(), ignore_errors=True)
        return d

    def _task(self, interp: "EmotionInterpreter") -> str:
        return self.task if self.task in interp.label_sets else next(iter(interp.label_sets))

    @staticmethod
    def clip_markdown(info: Mapping[str, Any]) -> str:
        notes = []
        if info.get("units_assumed"):
            notes.append(f"units assumed {info['units']}")
        if info.get("fps_assumed"):
            notes.append("frame rate assumed")
        extra = f" · _{', '.join(notes)}_" if notes else ""
        return (f"**{info['file']}** · layout `{info['layout']}` ({info['joints']} joints) · {info['frames']} frames "
                f"at {info['fps']:g} fps · {info['duration_s']:.1f} s{extra}")

    def reset(self) -> dict[str, Any]:
        """Updates that clear the previous result."""
        return {"error": None, "clip": "", "animation": None, "probabilities": None, "timeline": None,
                "explanation": "", "evidence": [], "cues": [], "json": None, "busy": True}

    # ---- the request --------------------------------------------------------------------------
    def run(self, path: str | PathLike | None, layout: str | None = AUTO) -> Iterator[dict[str, Any]]:
        """Interpret one upload, yielding display updates as each step finishes. Never raises.

        ``last_timings`` afterwards holds seconds since the request started: ``rendered``, ``classified``,
        ``first_text`` (first explanation delta) and ``done``.
        """
        t0 = time.perf_counter()
        timings: dict[str, float] = {}
        self.last_timings = timings

        def mark(step: str) -> None:
            timings.setdefault(step, round(time.perf_counter() - t0, 3))

        yield self.reset()
        if not path:
            yield {"error": "No clip: upload a BVH, NPZ, NPY or CSV file, or pick an example.", "busy": False}
            return
        name = Path(path).name
        try:
            clip = read_upload(path, layout, self.limits)
            info = clip_info(clip, name)
            out = self._request_dir()
            gif = render_animation(clip, out / f"{Path(name).stem}.gif")
            mark("rendered")
            yield {"clip": self.clip_markdown(info), "animation": str(gif)}
            if self.holder.state != "ready":
                yield {"status": self.holder.status_markdown(), "explanation": "_Waiting for the model to load…_"}
            interp = self.holder.get()
            task = self._task(interp)
            result = None
            for kind, value in self._stream(interp, clip, task):
                if kind == "classified":
                    mark("classified")
                    yield {"status": self.holder.status_markdown(), "probabilities": value.probabilities,
                           "timeline": timeline_frame(value.timeline),
                           "cues": cue_rows(value.all_cues, interp.cue_stats),
                           "explanation": "_Writing the explanation…_"}
                elif kind == "text" and value.strip():
                    mark("first_text")
                    yield {"explanation": value.strip() + " ▍"}
                elif kind == "done":
                    result = value
            yield self._final(result, info, out, interp)
            mark("done")
            log.info("%s: %s", name, timings)
        except Exception as err:  # one request's failure never takes the server down
            message = user_message(err, path)
            if isinstance(err, (ValueError, OSError, RuntimeError)):
                log.info("refused: %s", message)
            else:
                log.error("request %s failed:\n%s", name, traceback.format_exc())
            yield {"error": message, "busy": False, "status": self.holder.status_markdown(), "explanation": ""}

    def _stream(self, interp: "EmotionInterpreter", clip: "SkeletonClip",
                task: str) -> Iterator[tuple[str, Any]]:
        """Interpret in a worker thread (one model call at a time) and yield its events as they come:
        ``("classified", partial result)``, then ``("text", explanation so far)`` per delta, then ``("done", result)``."""
        q: queue.Queue = queue.Queue()

        def work() -> None:
            try:
                with self._model_lock:
                    res = interp.interpret(clip, task=task, max_new_tokens=self.max_new_tokens,
                                           on_classified=lambda r: q.put(("classified", r)),
                                           on_text=lambda s: q.put(("text", s)))
                q.put(("done", res))
            except BaseException as err:  # handed to the request thread
                q.put(("error", err))

        # not a daemon (see ModelHolder.start); a generation is bounded by max_new_tokens
        threading.Thread(target=work, name="eai-llm-interpret", daemon=False).start()
        text = ""
        while True:
            kind, value = q.get()
            if kind == "text":
                text += value
                yield "text", text
            elif kind == "error":
                raise value
            else:
                yield kind, value
                if kind == "done":
                    return

    def _final(self, res: "Interpretation", info: Mapping[str, Any], out: Path,
               interp: "EmotionInterpreter") -> dict[str, Any]:
        if res.explanation:
            faith = ("\n\n<small>This explanation cites no measured cue, so there is nothing to check.</small>"
                     if res.faithfulness is None else
                     f"\n\n<small>Faithfulness: {res.faithfulness:.0%} of the cited cues are supported by this "
                     f"clip's measurements (evidence below).</small>")
            explanation = f"{res.explanation}{faith}"
        else:
            explanation = f"_The model gave no usable explanation._ Raw output: `{(res.raw_explanation or '')[:300]}`"
        path = export_json(res, info, out / f"{Path(info['file']).stem}.eai-llm.json",
                           model=str(interp.model_dir) if interp.model_dir else self.holder.name)
        return {"probabilities": res.probabilities, "timeline": timeline_frame(res.timeline),
                "explanation": explanation, "evidence": evidence_rows(res.evidence),
                "cues": cue_rows(res.all_cues, interp.cue_stats), "json": str(path), "busy": False,
                "status": self.holder.status_markdown()}


# =============================================================================================
# examples
# =============================================================================================
def _example_label(path: Path) -> str:
    stem = path.stem
    if stem.startswith("dataset-1_"):
        _, content, style, *_ = stem.split("_")
        return f"{style.capitalize()} {content.replace('-', ' ')} · real mocap (BVH)"
    if stem.startswith("synthetic_"):
        parts = stem.split("_")
        emotion, content = parts[-2], parts[-1]
        layout = "_".join(parts[1:-2])
        return f"{emotion.capitalize()} {content} · synthetic, {layout} ({path.suffix[1:].upper()})"
    return path.name


def _example_layout(path: Path) -> str:
    """The layout an example needs (NPY files do not say): ``synthetic_<layout>_...`` names carry it."""
    from .skeleton.layouts import list_layouts

    if path.suffix.lower() == ".npy" and path.stem.startswith("synthetic_"):
        for name in sorted(list_layouts(), key=len, reverse=True):
            if path.stem.startswith(f"synthetic_{name}_"):
                return name
    return AUTO


def find_examples(examples_dir: str | PathLike | None = EXAMPLES_DIR) -> list[tuple[str, str, str]]:
    """``(path, layout, label)`` for each example clip in ``examples_dir`` (real ones first); [] when absent."""
    d = Path(examples_dir) if examples_dir else None
    if d is None or not d.is_dir():
        return []
    files = sorted((p for p in d.iterdir() if p.suffix.lower() in CLIP_SUFFIXES),
                   key=lambda p: (not p.name.startswith("dataset-1_"), p.name))
    return [(str(p), _example_layout(p), _example_label(p)) for p in files]


# =============================================================================================
# the interface
# =============================================================================================
CSS = """
.gradio-container {max-width: 1240px !important; margin: auto;}
#eai-title h1 {margin-bottom: 0.2em;}
#eai-error {border: 1px solid #fca5a5; background: #fef2f2; color: #991b1b; border-radius: 8px; padding: 8px 12px;}
#eai-explanation {min-height: 3em; font-size: 1.05em;}
#eai-status {font-size: 0.92em;}
footer {display: none !important;}
"""


def _theme():
    import gradio as gr

    local = ["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"]
    mono = ["ui-monospace", "SFMono-Regular", "Menlo", "monospace"]
    return gr.themes.Soft(primary_hue="indigo", neutral_hue="slate", font=local, font_mono=mono)


def _intro(limits: DemoLimits, has_examples: bool) -> str:
    licence = (" The real example clips come from the Bandai-Namco-Research-Motiondataset "
               "(© 2022 Bandai Namco Research Inc., **CC BY-NC 4.0**, non-commercial use only; "
               "Kobayashi et al., arXiv:2306.08861); clips marked *synthetic* are procedural and show the "
               "interface, not accuracy.") if has_examples else ""
    return (
        "Upload a 3D skeleton clip (motion capture, Kinect, or a 3D pose estimator's output) and the interpreter "
        "names the emotion the body expresses, explains why in terms of measured movement (speed, posture, "
        "arm swing, …), and shows the numbers behind every word so you can check them.\n\n"
        f"**Formats:** BVH, NPZ, NPY, CSV · **Limits:** {limits.describe()} · choose the layout when the file "
        f"does not say (NPY, bare NPZ).{licence}"
    )


def build_demo(interpreter_or_loader: InterpreterSource | ModelHolder | DemoBackend, *,
               limits: DemoLimits = DemoLimits(),
               examples_dir: str | PathLike | None = EXAMPLES_DIR, task: str = "emotion", max_new_tokens: int = 40,
               title: str = "EAI-LLM · body-movement emotion interpreter",
               backend: DemoBackend | None = None) -> "gr.Blocks":
    """Build (not launch) the Gradio interface around an interpreter, a loader function or a model directory.

    The model is loaded lazily (or was started by the caller with :meth:`ModelHolder.start`); the page shows its
    status. Requests are queued and the model runs one request at a time. Launch with :func:`launch` (which
    applies the theme, CSS and upload limit: Gradio 6 takes those in ``launch()``).
    """
    import gradio as gr

    from .skeleton.layouts import list_layouts

    if backend is None and isinstance(interpreter_or_loader, DemoBackend):
        backend = interpreter_or_loader
    be = backend or DemoBackend(interpreter_or_loader, limits=limits, task=task, max_new_tokens=max_new_tokens)
    examples = find_examples(examples_dir)
    with gr.Blocks(title="EAI-LLM demo", analytics_enabled=False, delete_cache=(3600, 7200)) as demo:
        gr.Markdown(f"# {title}", elem_id="eai-title")
        gr.Markdown(_intro(be.limits, bool(examples)), elem_id="eai-intro")
        status = gr.Markdown(be.holder.status_markdown(), elem_id="eai-status")
        with gr.Row(equal_height=False):
            with gr.Column(scale=4, min_width=300):
                upload = gr.File(label="Skeleton clip (BVH, NPZ, NPY, CSV)", file_count="single", type="filepath",
                                 elem_id="eai-upload", height=120)
                layout = gr.Dropdown([AUTO] + list_layouts(), value=AUTO, label="Skeleton layout",
                                     info="auto = from the file; needed for NPY and bare NPZ arrays",
                                     elem_id="eai-layout")
                run_btn = gr.Button("Interpret", variant="primary", elem_id="eai-run")
                example_box = gr.Column()
            with gr.Column(scale=8, min_width=480):
                error = gr.Markdown("", visible=False, elem_id="eai-error")
                clip_md = gr.Markdown("", elem_id="eai-clip")
                with gr.Row(equal_height=False):
                    animation = gr.Image(label="Skeleton (unified, normalised; camera follows the pelvis)",
                                         type="filepath", interactive=False, elem_id="eai-animation",
                                         buttons=["download"], show_label=False)
                    probs = gr.Label(label="Emotion probabilities", num_top_classes=10, elem_id="eai-probs")
                gr.Markdown("### Explanation")
                explanation = gr.Markdown("", elem_id="eai-explanation")
                evidence = gr.Dataframe(headers=EVIDENCE_HEADERS, value=[], label="Evidence: each cue the "
                                        "explanation cites, with its measured value and the typical range",
                                        interactive=False, wrap=True, elem_id="eai-evidence",
                                        column_widths=["22%", "18%", "14%", "24%", "8%", "14%"])
                timeline = gr.LinePlot(x="time_s", y="probability", color="emotion", x_title="time (s, window centre)",
                                       y_title="probability", y_lim=[0, 1], label="Emotion over time (sliding windows)",
                                       visible=False, elem_id="eai-timeline")
                with gr.Accordion("All measured cues", open=False):
                    cues = gr.Dataframe(headers=CUE_HEADERS, value=[], interactive=False, wrap=True,
                                        elem_id="eai-cues", column_widths=["16%", "13%", "24%", "7%", "40%"])
                download = gr.File(label="Download the result (JSON)", interactive=False, elem_id="eai-json",
                                   height=100)
        gr.Markdown("<small>The explanation is generated for the clip's most representative window, conditioned "
                    "on the predicted emotion; every cue phrase is checked against the clip's own measurements "
                    "(z-scores against the training clips' statistics). Probabilities average the sliding windows. "
                    "Research prototype: do not use it to judge people.</small>", elem_id="eai-footer")

        outputs = {"error": error, "clip": clip_md, "animation": animation, "probabilities": probs,
                   "timeline": timeline, "explanation": explanation, "evidence": evidence, "cues": cues,
                   "json": download, "status": status, "busy": run_btn}

        def to_gradio(update: Mapping[str, Any]) -> dict:
            out: dict = {}
            for key, value in update.items():
                comp = outputs[key]
                if key == "error":
                    out[comp] = gr.update(value=f"**Could not interpret this clip.** {value}" if value else "",
                                          visible=bool(value))
                elif key == "timeline":
                    out[comp] = gr.update(value=value, visible=value is not None)
                elif key in ("evidence", "cues"):
                    out[comp] = table_frame(value, EVIDENCE_HEADERS if key == "evidence" else CUE_HEADERS)
                elif key == "busy":
                    out[comp] = gr.update(interactive=not value, value="Interpreting…" if value else "Interpret")
                else:
                    out[comp] = value
            return out

        def analyse(path: str | None, layout_name: str | None):
            for update in be.run(path, layout_name):
                yield to_gradio(update)

        out_list = list(outputs.values())
        common = dict(fn=analyse, inputs=[upload, layout], outputs=out_list, concurrency_id="interpret",
                      concurrency_limit=1, show_progress="minimal", show_progress_on=[animation, probs],
                      trigger_mode="always_last")
        upload.upload(**common)
        run_btn.click(**common)
        if examples:
            with example_box:
                gr.Examples([[p, lay] for p, lay, _ in examples], inputs=[upload, layout],
                            example_labels=[label for *_, label in examples], label="Examples (click to run)",
                            fn=analyse, outputs=out_list, run_on_click=True, cache_examples=False,
                            examples_per_page=10)
        timer = gr.Timer(1.0, active=be.holder.state != "ready")

        def poll() -> tuple:
            done = be.holder.state in ("ready", "failed")
            return be.holder.status_markdown(), gr.Timer(active=not done)

        timer.tick(poll, outputs=[status, timer], show_progress="hidden", concurrency_limit=None, queue=False)
        demo.load(lambda: be.holder.status_markdown(), outputs=status, show_progress="hidden", queue=False)
    demo.queue(default_concurrency_limit=1, max_size=64)
    demo.eai_backend = be  # for tests and for serve()
    demo.eai_examples_dir = Path(examples_dir) if examples_dir and Path(examples_dir).is_dir() else None
    return demo


def launch(demo: "gr.Blocks", *, host: str = "127.0.0.1", port: int | None = 7860,
           limits: DemoLimits | None = None, prevent_thread_lock: bool = False, quiet: bool = False) -> "gr.Blocks":
    """Launch a demo from :func:`build_demo` with the theme, CSS and upload limit (Gradio 6 ``launch()`` arguments)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    limits = limits or getattr(getattr(demo, "eai_backend", None), "limits", None) or DemoLimits()
    allowed = [str(demo.eai_examples_dir)] if getattr(demo, "eai_examples_dir", None) else []
    demo.launch(server_name=host, server_port=port, theme=_theme(), css=CSS, max_file_size=limits.max_bytes,
                allowed_paths=allowed, show_error=True, ssr_mode=False, prevent_thread_lock=prevent_thread_lock,
                quiet=quiet, footer_links=[], pwa=False, mcp_server=False)
    return demo


def serve(model: str | PathLike | None = None, *, host: str = "127.0.0.1", port: int | None = 7860,
          limits: DemoLimits = DemoLimits(), examples_dir: str | PathLike | None = EXAMPLES_DIR,
          max_new_tokens: int = 40, prevent_thread_lock: bool = False, quiet: bool = False) -> "gr.Blocks":
    """Resolve the model directory (the bundled one by default), start loading it in the background and serve."""
    model_dir = resolve_model_dir(model)
    if not quiet and not log.handlers:   # per-request timings and failures on the operator's terminal
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s eai-llm demo: %(message)s", "%H:%M:%S"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
    holder = ModelHolder(model_dir).start()
    demo = build_demo(holder, limits=limits, examples_dir=examples_dir, max_new_tokens=max_new_tokens)
    if not quiet:
        print(f"EAI-LLM demo: model {model_dir} (loading in the background); {limits.describe()}", flush=True)
    launch(demo, host=host, port=port, limits=limits, prevent_thread_lock=prevent_thread_lock, quiet=quiet)
    if not prevent_thread_lock and not holder.wait(0):  # the server stopped (Ctrl-C) while the model was loading:
        print("waiting for the model to finish loading before exiting…", flush=True)   # exit cleanly, not mid-load
        holder.wait()
    return demo
