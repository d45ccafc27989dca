"""One demo request, without Gradio: :class:`DemoBackend` yields dicts of display updates.

Two kinds of request, so that each runs the model at most once:

- :meth:`DemoBackend.preview` (an upload, a layout change): read the clip, show its facts and animation, or ask
  for the layout when the file does not name its joints. No model call.
- :meth:`DemoBackend.run` (the Interpret button, an example click): read the clip, classify it, stream the
  explanation, show the evidence, cues, timeline and JSON export. One model call.

Several requests are served at once (``limits.concurrency`` model calls; the interpreter's forward passes are
thread-safe in eval mode under ``torch.inference_mode``, its tokenizer is serialised by the holder). Each request
has a wall-time limit (``limits.request_seconds``): past it the page gets one line and the server goes on
serving; a generation still running stops at its next token. Files a request writes (animation, export) live in
a folder of their own under the work folder and are removed when the request ends (Gradio has copied what it
shows into its own cache by then), unless ``keep_results`` asks to keep the latest ones; the work folder itself
is removed by :meth:`DemoBackend.close` (also at interpreter exit).
"""

from __future__ import annotations

import atexit
import logging
import queue
import shutil
import tempfile
import threading
import time
import traceback
import uuid
import weakref
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping

from .format import (attribution_markdown, checks_markdown, clip_info, clip_markdown, cue_rows, evidence_rows,
                     export_json, llm_alone_markdown, timeline_frame, warnings_markdown, warnings_of, what_if_markdown)
from .holder import InterpreterSource, ModelHolder
from .limits import AUTO, DemoLimits, LayoutNeeded, read_upload, user_message
from .render import render_animation

if TYPE_CHECKING:  # pragma: no cover
    from ..interpreter import EmotionInterpreter, Interpretation
    from ..skeleton.clip import SkeletonClip

__all__ = ["DemoBackend", "RequestTimeout"]

log = logging.getLogger("eai_llm.demo")

#: Every key a request may update, with its cleared value.
CLEARED: dict[str, Any] = {"error": None, "notice": None, "warnings": None, "clip": None, "animation": None,
                           "probabilities": None, "llm_alone": None, "timeline": None, "explanation": None,
                           "evidence": None, "cues": None, "json": None}


class RequestTimeout(RuntimeError):
    """A request ran past the demo's per-request time limit."""


class _Cancelled(Exception):
    """Raised inside a generation whose request gave up waiting (stops it at the next token)."""


class DemoBackend:
    """The demo's request logic (see the module docstring).

    Update keys: ``error`` / ``notice`` (one line or None), ``warnings`` (markdown or None), ``clip`` (markdown),
    ``animation`` (GIF path), ``probabilities`` (label -> p), ``llm_alone`` (markdown or None), ``timeline``
    (DataFrame or None), ``explanation`` (markdown, streamed), ``evidence`` and ``cues`` (table rows), ``json``
    (export path), ``status`` (model status markdown), ``busy`` (bool). None means "hide it".
    """

    def __init__(self, model: InterpreterSource | ModelHolder, *, limits: DemoLimits = DemoLimits(),
                 task: str = "emotion", max_new_tokens: int = 40, work_dir: str | PathLike | None = None,
                 keep_results: int = 0):
        from ..skeleton.layouts import list_layouts

        self.holder = model if isinstance(model, ModelHolder) else ModelHolder(model)
        self.limits = limits
        self.task = task
        self.max_new_tokens = max_new_tokens
        #: the layouts a user may choose (fixed when the demo starts; nothing a request does changes them)
        self.layouts = tuple(list_layouts())
        self._own_work_dir = work_dir is None
        self.work_dir = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="eai-llm-demo-"))
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._keep = keep_results
        self._kept: deque[Path] = deque()
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(limits.concurrency)   # model calls at once
        # reading runs here so that a request can give up waiting on a slow file (threads cannot be killed;
        # the pool bounds how many such reads can pile up)
        self._readers = ThreadPoolExecutor(max_workers=limits.concurrency + 2, thread_name_prefix="eai-llm-read")
        self.model_calls = 0        # model calls so far
        self.active = 0             # model calls running now
        self.last_timings: dict[str, float] = {}
        self._closed = False
        atexit.register(_close_ref, weakref.ref(self))

    # ---- lifetime -----------------------------------------------------------------------------
    def close(self) -> None:
        """Remove the work folder (or, for a caller's folder, what the requests left in it). Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._readers.shutdown(wait=False, cancel_futures=True)
        if self._own_work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)
        else:
            with self._lock:
                kept, self._kept = list(self._kept), deque()
            for d in kept:
                shutil.rmtree(d, ignore_errors=True)

    def _request_dir(self) -> Path:
        d = self.work_dir / uuid.uuid4().hex[:12]
        d.mkdir(parents=True)
        return d

    def _release(self, d: Path | None) -> None:
        """A request has ended: remove its files, or keep the latest ``keep_results`` folders."""
        if d is None:
            return
        drop = [d]
        if self._keep > 0:
            with self._lock:
                self._kept.append(d)
                drop = [self._kept.popleft() for _ in range(max(0, len(self._kept) - self._keep))]
        for old in drop:
            shutil.rmtree(old, ignore_errors=True)

    # ---- steps ----------------------------------------------------------------------------------
    def _task(self, interp: "EmotionInterpreter") -> str:
        return self.task if self.task in interp.label_sets else next(iter(interp.label_sets))

    def _read(self, path: str | PathLike, layout: str | None, deadline: float) -> "SkeletonClip":
        future = self._readers.submit(read_upload, path, layout, self.limits, self.layouts)
        try:
            return future.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            future.cancel()
            raise RequestTimeout(f"{Path(path).name}: reading the file took longer than the demo's limit of "
                                 f"{self.limits.request_seconds:g} s per request") from None

    @staticmethod
    def reset(busy: bool | None = None) -> dict[str, Any]:
        """Updates that clear (and hide) the previous result."""
        out = dict(CLEARED)
        if busy is not None:
            out["busy"] = busy
        return out

    # ---- requests -------------------------------------------------------------------------------
    def preview(self, path: str | PathLike | None, layout: str | None = AUTO) -> Iterator[dict[str, Any]]:
        """Show an upload without running the model: its facts and animation, or what it still needs (a layout).
        Never raises."""
        yield self.reset()
        if not path:
            return
        deadline = time.monotonic() + self.limits.request_seconds
        out = None
        try:
            clip = self._read(path, layout, deadline)
            info = clip_info(clip, Path(path).name)
            out = self._request_dir()
            gif = render_animation(clip, out / f"{Path(info['file']).stem}.gif")
            yield {"clip": clip_markdown(info) + "  \nPress **Interpret** to read the emotion.",
                   "animation": str(gif), "warnings": warnings_markdown(warnings_of(None, clip))}
        except LayoutNeeded as err:
            yield {"notice": user_message(err, path)}
        except Exception as err:  # one request's failure never takes the server down
            yield {"error": self._failure(err, path)}
        finally:
            self._release(out)

    def run(self, path: str | PathLike | None, layout: str | None = AUTO, *,
            render: bool = True) -> Iterator[dict[str, Any]]:
        """Interpret one upload (one model call), yielding display updates as each step finishes. Never raises.

        render: draw the animation too (False when the page already shows it from :meth:`preview`).
        ``last_timings`` afterwards holds seconds since the request started: ``rendered`` (with ``render``),
        ``classified``, ``first_text`` (first explanation delta), ``explained`` (the explanation complete; the
        what-if follows) and ``done``.
        """
        t0 = time.perf_counter()
        deadline = time.monotonic() + self.limits.request_seconds
        timings: dict[str, float] = {}
        self.last_timings = timings

        def mark(step: str) -> None:
            timings.setdefault(step, round(time.perf_counter() - t0, 3))

        update = self.reset(busy=True)
        if not render:
            update.pop("clip"), update.pop("animation")
        yield update
        if not path:
            yield {"error": "No clip: upload a BVH, NPZ, NPY or CSV file, or pick an example.", "busy": False}
            return
        name = Path(path).name
        out = None
        try:
            clip = self._read(path, layout, deadline)
            info = clip_info(clip, name)
            out = self._request_dir()
            shown: dict[str, Any] = {"clip": clip_markdown(info),
                                     "warnings": warnings_markdown(warnings_of(None, clip))}
            if render:
                shown["animation"] = str(render_animation(clip, out / f"{Path(name).stem}.gif"))
                mark("rendered")
            yield shown
            if self.holder.state != "ready":
                yield {"status": self.holder.status_markdown(), "explanation": "_Waiting for the model to load…_"}
            interp = self.holder.get(timeout=max(0.0, deadline - time.monotonic()))
            result = what_if = None
            for kind, value in self._stream(interp, clip, self._task(interp), deadline):
                if kind == "classified":
                    mark("classified")
                    yield {"status": self.holder.status_markdown(), "probabilities": value.probabilities,
                           "llm_alone": llm_alone_markdown(value), "timeline": timeline_frame(value.timeline),
                           "cues": cue_rows(value.all_cues, interp.cue_stats),
                           "warnings": warnings_markdown(warnings_of(value, clip)),
                           "explanation": "_Writing the explanation…_"}
                elif kind == "text" and value.strip():
                    mark("first_text")
                    yield {"explanation": value.strip() + " ▍"}
                elif kind == "done":
                    result = value
                    mark("explained")
                elif kind == "what_if":
                    what_if = value
            yield self._final(result, clip, info, out, what_if)
            mark("done")
            log.info("%s: %s", name, timings)
        except LayoutNeeded as err:
            yield {"notice": user_message(err, path), "busy": False}
        except Exception as err:  # one request's failure never takes the server down
            yield {"error": self._failure(err, path), "busy": False, "status": self.holder.status_markdown(),
                   "explanation": None}
        finally:
            self._release(out)

    def _failure(self, err: BaseException, path: str | PathLike) -> str:
        message = user_message(err, path)
        if isinstance(err, (ValueError, OSError, RuntimeError)):
            log.info("refused: %s", message)
        else:
            log.error("request %s failed:\n%s", Path(path).name, traceback.format_exc())
        return message

    def _stream(self, interp: "EmotionInterpreter", clip: "SkeletonClip", task: str,
                deadline: float) -> Iterator[tuple[str, Any]]:
        """Interpret in a worker thread and yield its events as they come: ``("classified", partial result)``,
        then ``("text", explanation so far)`` per delta, then ``("done", result)``; RequestTimeout past the
        deadline (the generation then stops at its next token)."""
        import torch

        q: queue.Queue = queue.Queue()
        cancel = threading.Event()

        def emit(kind: str, value: Any) -> None:
            if cancel.is_set():
                raise _Cancelled()
            q.put((kind, value))

        def work() -> None:
            try:
                with self._slots:
                    if cancel.is_set():
                        return
                    with self._lock:
                        self.model_calls += 1
                        self.active += 1
                    try:
                        with torch.inference_mode():
                            res = interp.interpret(clip, task=task, max_new_tokens=self.max_new_tokens,
                                                   on_classified=lambda r: emit("classified", r),
                                                   on_text=lambda s: emit("text", s))
                            q.put(("done", res))
                            q.put(("what_if", _what_would_change(interp, clip, res, task)))
                    finally:
                        with self._lock:
                            self.active -= 1
            except _Cancelled:
                pass
            except BaseException as err:  # handed to the request thread
                q.put(("error", err))

        # not a daemon: a generation is bounded by max_new_tokens and the deadline
        threading.Thread(target=work, name="eai-llm-interpret", daemon=False).start()
        text = ""
        try:
            while True:
                try:
                    kind, value = q.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    raise RequestTimeout(f"{Path(str(clip.source)).name}: interpreting took longer than the demo's "
                                         f"limit of {self.limits.request_seconds:g} s per request; try a shorter "
                                         f"clip") from None
                if kind == "text":
                    text += value
                    yield "text", text
                elif kind == "error":
                    raise value
                else:
                    yield kind, value
                    if kind == "what_if":
                        return
        finally:  # timed out, or the page went away / cancelled the request: stop the generation at its next token
            cancel.set()

    def _final(self, res: "Interpretation", clip: "SkeletonClip", info: Mapping[str, Any],
               out: Path, what_if=None) -> dict[str, Any]:
        interp = self.holder.get()
        if res.explanation:
            faith = ("\n\n<small>This explanation cites no measured cue, so there is nothing to check.</small>"
                     if res.faithfulness is None else
                     f"\n\n<small>Faithfulness: {res.faithfulness:.0%} of the cited cues are supported by this "
                     f"clip's measurements (evidence below).</small>")
            extra = [checks_markdown(res), attribution_markdown(res), what_if_markdown(res.label, what_if)]
            explanation = f"{res.explanation}{faith}" + "".join(f"\n\n{e}" for e in extra if e)
        else:
            explanation = f"_The model gave no usable explanation._ Raw output: `{(res.raw_explanation or '')[:300]}`"
        path = export_json(res, info, out / f"{Path(info['file']).stem}.eai-llm.json", model=self.holder.display_name,
                           what_if=what_if)
        update = {"probabilities": res.probabilities, "llm_alone": llm_alone_markdown(res),
                  "warnings": warnings_markdown(warnings_of(res, clip)), "timeline": timeline_frame(res.timeline),
                  "explanation": explanation, "evidence": evidence_rows(res.evidence),
                  "cues": cue_rows(res.all_cues, interp.cue_stats), "json": str(path), "busy": False,
                  "status": self.holder.status_markdown()}
        top = (res.attribution or {}).get("top")
        if top:   # the animation again, with the body part that drove the reading in green while it did
            update["animation"] = str(render_animation(clip, out / f"{Path(info['file']).stem}.attribution.gif",
                                                       highlight=top[0]))
        return update


def _what_would_change(interp, clip, res, task: str):
    """The cited editable cues moved to their typical values, re-read (None when none can be edited)."""
    from ..counterfactual import what_if
    from ..skeleton.edits import EDITABLE_CUES

    cues = [r["cue"] for r in res.evidence if r.get("role") == "support" and r["cue"] in EDITABLE_CUES]
    if not cues or not res.explanation or not hasattr(interp, "cue_stats"):
        return None
    try:
        return what_if(interp, clip, cues, task=task, before=res)
    except Exception as err:  # an extra: the reading itself stands without it
        log.warning("what-if of %s failed: %s", Path(str(clip.source)).name, err)
        return None


def _close_ref(ref: "weakref.ref[DemoBackend]") -> None:
    backend = ref()
    if backend is not None:
        backend.close()
