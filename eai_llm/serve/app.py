"""The HTTP API (FastAPI): ``POST /v1/interpret``, ``GET /v1/health``, ``GET /v1/model``; OpenAPI at ``/docs``.

The model is loaded once, when the server starts. A request writes its upload into its own temporary folder
(removed when it is done), reads it with the caller's options (layouts only by registered name: nothing in a
request names a file on the server), and interprets it in a worker thread under a time limit: past it the
request gets 504 and the worker stops at its next step (after classification, or at the next explanation
token); other requests are served meanwhile. Errors are ``{"error": "<one line>"}`` naming the uploaded
file's name, never a server path.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import threading
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, File, Form, HTTPException, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from .card import card_summary, public_name
from .limits import BodyLimit, ServeLimits

__all__ = ["create_app"]

log = logging.getLogger("eai_llm.serve")

#: Suffixes kept on the saved upload (they choose the reader); anything else is detected from the content.
KNOWN_SUFFIXES = (".bvh", ".npz", ".npy", ".csv")


class _Deadline(Exception):
    """Raised inside the worker when its request's time is up."""


class RequestError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def create_app(model_dir: str | Path, *, limits: ServeLimits = ServeLimits(), interpreter=None,
               dtype: str = "auto", verbose: bool = False) -> "BodyLimit":
    """The ASGI app serving ``model_dir`` (``interpreter``: an already loaded one, e.g. in tests)."""
    model_dir = Path(model_dir)
    state: dict = {"interp": interpreter}

    @asynccontextmanager
    async def lifespan(_app):
        if state["interp"] is None:
            from ..interpreter import EmotionInterpreter

            t0 = time.perf_counter()
            state["interp"] = await asyncio.to_thread(EmotionInterpreter.from_pretrained, model_dir, dtype=dtype,
                                                     verbose=verbose)
            log.info("model %s loaded in %.1f s", model_dir.name, time.perf_counter() - t0)
        yield

    app = FastAPI(title="EAI-LLM", version=_version(), lifespan=lifespan,
                  description="Explainable body-movement emotion interpreter: a 3D skeleton clip in, a label with "
                              "calibrated probabilities and an explanation grounded in measured cues out.")

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request, exc: RequestValidationError):
        parts = []
        for e in exc.errors():
            where = ".".join(str(x) for x in e.get("loc", ()) if x not in ("body", "query"))
            parts.append(f"{where}: {e.get('msg', 'invalid')}" if where else e.get("msg", "invalid"))
        return JSONResponse({"error": _one_line("; ".join(parts))}, status_code=422)

    @app.exception_handler(HTTPException)
    async def _http(_request, exc: HTTPException):
        return JSONResponse({"error": _one_line(exc.detail)}, status_code=exc.status_code)

    @app.get("/v1/health")
    async def health() -> dict:
        """Liveness: ``{"status": "ok"}`` once the model is loaded."""
        return {"status": "ok" if state["interp"] is not None else "loading"}

    @app.get("/v1/model")
    async def model_info() -> dict:
        """The model served: its label sets, settings, card summary and the request limits."""
        interp = state["interp"]
        cfg = interp.config
        return {"name": model_dir.name, "label_sets": cfg.label_sets, "llm": public_name(cfg.llm.name_or_path),
                "fusion_weight": cfg.fusion_weight, "head_members": 1 + len(interp.model.head_members),
                "temperature": cfg.temperature, "card": card_summary(model_dir),
                "limits": {"max_upload_mb": limits.max_upload_mb, "max_seconds": limits.max_seconds,
                           "request_timeout_s": limits.request_timeout_s, "max_new_tokens": limits.max_new_tokens}}

    @app.post("/v1/interpret")
    async def interpret(
        file: Annotated[UploadFile, File(description="the clip: BVH, NPZ, NPY or CSV")],
        layout: Annotated[str | None, Form(description="a registered layout name (needed for NPY)")] = None,
        units: Annotated[str | None, Form(description="source units: cm, m, mm, inch")] = None,
        fps: Annotated[float | None, Form(gt=0, description="frame rate when the file does not say")] = None,
        interpolate_gaps: Annotated[int, Form(ge=0, description="fill NaN gaps up to this many frames")] = 0,
        task: Annotated[str, Form(description="the label set: emotion, or another the model knows")] = "emotion",
        explain: Annotated[bool, Form(description="generate the explanation")] = True,
        max_new_tokens: Annotated[int | None, Form(gt=0, description="explanation length limit")] = None,
        free: Annotated[bool, Form(description="the model names the label in its explanation")] = False,
        ungrounded: Annotated[bool, Form(description="allow cue phrases the measurements do not support")] = False,
        timeout_s: Annotated[float | None, Form(gt=0, description="a shorter time limit for this request")] = None,
    ) -> JSONResponse:
        """Interpret one uploaded clip; the same JSON as ``eai-llm interpret --json``."""
        name = Path(file.filename or "upload").name or "upload"
        data = await file.read(limits.max_bytes + 1)
        if len(data) > limits.max_bytes:
            return _error(413, f"{name}: the file is larger than the limit of {limits.max_upload_mb:g} MB")
        interp = state["interp"]
        if task not in interp.label_sets:
            return _error(422, f"task {task!r}: this model knows {', '.join(sorted(interp.label_sets))}")
        if layout is not None:
            from ..skeleton.layouts import list_layouts

            if layout not in list_layouts():
                return _error(422, f"layout {layout!r}: not a registered layout (one of {', '.join(list_layouts())})")
        options = dict(explain=explain, task=task, max_new_tokens=min(max_new_tokens or limits.max_new_tokens,
                                                                       limits.max_new_tokens),
                       conditioned=not free, grounded=not ungrounded)
        reader = dict(layout=layout, units=units, fps=fps, interpolate_gaps=interpolate_gaps)
        limit = min(timeout_s or limits.request_timeout_s, limits.request_timeout_s)
        cancel = threading.Event()
        t0 = time.perf_counter()
        worker = asyncio.ensure_future(asyncio.to_thread(
            _work, interp, name, data, reader, options, limits.max_seconds, time.monotonic() + limit, cancel))
        try:
            body = await asyncio.wait_for(asyncio.shield(worker), timeout=limit)
        except asyncio.TimeoutError:
            cancel.set()
            worker.add_done_callback(lambda f: f.exception())   # the abandoned worker's outcome is not an error
            log.info("%s: timed out after %g s", name, limit)
            return _error(504, f"{name}: the interpretation took longer than the limit of {limit:g} s")
        except RequestError as err:
            return _error(err.status, err.message)
        log.info("%s: %s in %.2f s", name, body.get("label"), time.perf_counter() - t0)
        return JSONResponse(body)

    return BodyLimit(app, limits.max_bytes)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": _one_line(message)}, status_code=status)


def _work(interp, name: str, data: bytes, reader: dict, options: dict, max_seconds: float, deadline: float,
          cancel: threading.Event) -> dict:
    """Read and interpret one upload in its own temporary folder; errors as :class:`RequestError`."""
    from ..skeleton.errors import ClipError, ClipLimitError
    from ..skeleton.io import load_clip

    def check_time(*_):
        if cancel.is_set() or time.monotonic() > deadline:
            raise _Deadline()

    suffix = Path(name).suffix.lower()
    with tempfile.TemporaryDirectory(prefix="eai-llm-serve-") as tmp:
        path = Path(tmp) / ("clip" + (suffix if suffix in KNOWN_SUFFIXES else ""))
        path.write_bytes(data)

        def scrub(text: str) -> str:
            return _one_line(str(text).replace(str(path), name).replace(tmp, "<upload>"))

        try:
            clip = load_clip(path, **reader)
            if clip.duration > max_seconds:
                raise RequestError(413, f"{name}: the clip lasts {clip.duration:.1f} s, the limit is {max_seconds:g} s")
            check_time()
            res = interp.interpret(clip, on_classified=check_time, on_text=check_time, **options)
        except _Deadline:
            raise RequestError(504, f"{name}: the interpretation took longer than its time limit") from None
        except ClipLimitError as err:
            raise RequestError(413, scrub(err)) from None
        except (ClipError, ValueError) as err:
            raise RequestError(422, scrub(err)) from None
        except RequestError:
            raise
        except Exception as err:  # noqa: BLE001 - the server keeps serving; the operator's log has the details
            log.exception("%s: internal error", name)
            raise RequestError(500, f"{name}: internal error ({type(err).__name__}); the server log has "
                                    "the details") from None
        res.source = name
        res.warnings = [scrub(w) for w in res.warnings]
        return res.to_dict()


def _version() -> str:
    from .. import __version__

    return __version__
