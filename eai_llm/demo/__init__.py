"""The EAI-LLM web demo: upload a 3D skeleton clip, see it, then see the emotion, the explanation and the evidence.

    eai-llm demo [--model DIR] [--host 127.0.0.1] [--port 7860]      # or: make demo [MODEL=dir]

One process, one concern per module:

- :mod:`.limits`   what a request may ask (:class:`DemoLimits`), reading an upload, one-line page messages
- :mod:`.guard`    a look at an upload's structure before the readers parse it (joint cap, no path inside)
- :mod:`.render`   the skeleton animation (GIF)
- :mod:`.format`   cue names and values, tables, the timeline's data, clip facts, the JSON export
- :mod:`.holder`   the model: resolved, loaded once in the background, status line, safe to share
- :mod:`.backend`  one request without Gradio (:class:`DemoBackend`: preview, run, limits, clean-up)
- :mod:`.examples` the bundled example clips
- :mod:`.page`     the Gradio page (:func:`build_demo`), :func:`launch` and :func:`serve`

Gradio is imported only inside :func:`build_demo` / :func:`launch` / :func:`serve`, so this package imports
without it. (The top-level ``demo/`` folder of a checkout is data: the example clips.)
"""

from .backend import DemoBackend, RequestTimeout
from .examples import CLIP_SUFFIXES, EXAMPLES_DIR, find_examples
from .format import (CUE_HEADERS, EVIDENCE_HEADERS, clip_info, clip_markdown, cue_rows, cue_title, evidence_rows,
                     export_json, format_cue_value, table_frame, timeline_frame)
from .holder import InterpreterSource, ModelHolder, resolve_model_dir
from .limits import AUTO, DemoLimits, LayoutNeeded, read_upload, scrub_paths, user_message
from .page import CSS, build_demo, launch, serve
from .render import Projection, project_skeleton, render_animation

__all__ = [
    "DemoLimits", "LayoutNeeded", "ModelHolder", "DemoBackend", "RequestTimeout", "build_demo", "serve", "launch",
    "render_animation", "project_skeleton", "evidence_rows", "cue_rows", "cue_title", "export_json", "read_upload",
    "user_message", "scrub_paths", "format_cue_value", "find_examples", "resolve_model_dir", "table_frame",
    "timeline_frame", "clip_info", "clip_markdown", "EVIDENCE_HEADERS", "CUE_HEADERS", "CLIP_SUFFIXES", "AUTO",
    "EXAMPLES_DIR", "CSS", "Projection", "InterpreterSource",
]
