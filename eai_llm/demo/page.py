"""The demo's page (Gradio 6): the layout of the components, the events that drive :class:`DemoBackend`, launching.

Uploading a file (or changing the layout) previews it: its facts and animation, or a request to choose the layout
when the file does not name its joints. **Interpret** (or clicking an example) runs the model once. Result
components stay hidden until there is something to show. ``limits.concurrency`` requests are served at once;
the others wait in Gradio's queue, which shows their position. Gradio is imported only inside these functions.
"""

from __future__ import annotations

import logging
import os
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from .backend import DemoBackend
from .examples import EXAMPLES_DIR, find_examples
from .format import CUE_HEADERS, EVIDENCE_HEADERS, table_frame
from .holder import InterpreterSource, ModelHolder, resolve_model_dir
from .limits import AUTO, DemoLimits

if TYPE_CHECKING:  # pragma: no cover
    import gradio as gr

__all__ = ["build_demo", "launch", "serve", "CSS"]

log = logging.getLogger("eai_llm.demo")

CSS = """
.gradio-container {max-width: 1240px !important; margin: auto;}
#eai-title h1 {margin-bottom: 0.2em;}
#eai-error {border: 1px solid #fca5a5; background: #fef2f2; color: #991b1b; border-radius: 8px; padding: 8px 12px;}
#eai-notice {border: 1px solid #93c5fd; background: #eff6ff; color: #1e3a8a; border-radius: 8px; padding: 8px 12px;}
#eai-warnings {border: 1px solid #fcd34d; background: #fffbeb; color: #92400e; border-radius: 8px; padding: 8px 12px;}
#eai-explanation {min-height: 3em; font-size: 1.05em;}
#eai-status {font-size: 0.92em;}
/* table cells wrap between words only: "walking speed (m/s)", never "walking_spee/d" */
#eai-evidence td, #eai-evidence th, #eai-cues td, #eai-cues th,
#eai-evidence td *, #eai-cues td *, #eai-evidence th *, #eai-cues th * {
  word-break: normal !important; overflow-wrap: normal !important; hyphens: manual !important;}
footer {display: none !important;}
"""

#: the keys of a backend update whose components are hidden while they have nothing to show
_HIDDEN_WHEN_EMPTY = ("notice", "warnings", "clip", "animation", "probabilities", "llm_alone", "timeline",
                      "explanation", "evidence", "cues", "json")


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
        "Upload a 3D skeleton clip (motion capture, Kinect, or a 3D pose estimator's output) to see it, then press "
        "**Interpret**: the interpreter names the emotion the body expresses, explains why in terms of measured "
        "movement (speed, posture, arm swing, …), and shows the numbers behind every word so you can check them."
        f"\n\n**Formats:** BVH, NPZ, NPY, CSV · **Limits:** {limits.describe()} · choose the layout when the file "
        f"does not name its joints (NPY, bare NPZ).{licence}"
    )


def build_demo(interpreter_or_loader: InterpreterSource | ModelHolder | DemoBackend, *,
               limits: DemoLimits = DemoLimits(),
               examples_dir: str | PathLike | None = EXAMPLES_DIR, task: str = "emotion", max_new_tokens: int = 40,
               title: str = "EAI-LLM · body-movement emotion interpreter",
               backend: DemoBackend | None = None) -> "gr.Blocks":
    """Build (not launch) the Gradio interface around an interpreter, a loader function or a model directory.

    The model is loaded lazily (or was started by the caller with :meth:`ModelHolder.start`); the page shows its
    status. Launch with :func:`launch` (Gradio 6 takes the theme, CSS and upload limit in ``launch()``); closing
    the demo (``demo.close()``) also removes the backend's work folder.
    """
    import gradio as gr

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
                layout = gr.Dropdown([AUTO] + list(be.layouts), value=AUTO, label="Skeleton layout",
                                     info="auto = from the file; needed for NPY and bare NPZ arrays",
                                     elem_id="eai-layout")
                run_btn = gr.Button("Interpret", variant="primary", elem_id="eai-run")
                example_box = gr.Column()
            with gr.Column(scale=8, min_width=480):
                error = gr.Markdown(visible=False, elem_id="eai-error")
                notice = gr.Markdown(visible=False, elem_id="eai-notice")
                warnings = gr.Markdown(visible=False, elem_id="eai-warnings")
                clip_md = gr.Markdown(visible=False, elem_id="eai-clip")
                with gr.Row(equal_height=False):
                    animation = gr.Image(label="Skeleton (unified, normalised; camera follows the pelvis)",
                                         type="filepath", interactive=False, elem_id="eai-animation",
                                         buttons=["download"], show_label=False, visible=False)
                    with gr.Column():
                        probs = gr.Label(label="Emotion probabilities", num_top_classes=10, elem_id="eai-probs",
                                         visible=False)
                        llm_alone = gr.Markdown(visible=False, elem_id="eai-llm-alone")
                explanation = gr.Markdown(visible=False, elem_id="eai-explanation", label="Explanation")
                evidence = gr.Dataframe(headers=EVIDENCE_HEADERS, value=None, label="Evidence: each cue the "
                                        "explanation cites, with its measured value and the typical range",
                                        interactive=False, wrap=True, elem_id="eai-evidence", visible=False,
                                        column_widths=["22%", "20%", "13%", "23%", "8%", "14%"])
                timeline = gr.LinePlot(x="time_s", y="probability", color="emotion", x_title="time (s, window centre)",
                                       y_title="probability", y_lim=[0, 1],
                                       label="Emotion over time (sliding windows; the clip's three leading labels)",
                                       visible=False, elem_id="eai-timeline")
                with gr.Accordion("All measured cues", open=False, visible=False) as cues_box:
                    cues = gr.Dataframe(headers=CUE_HEADERS, value=None, interactive=False, wrap=True,
                                        elem_id="eai-cues", column_widths=["20%", "13%", "22%", "7%", "38%"])
                download = gr.File(label="Download the result (JSON)", interactive=False, elem_id="eai-json",
                                   height=100, visible=False)
        gr.Markdown("<small>The explanation is generated for the clip's most representative window, conditioned "
                    "on the predicted emotion; every cue phrase is checked against the clip's own measurements "
                    "(z-scores against the training clips' statistics). Probabilities average the sliding windows. "
                    "Research prototype: do not use it to judge people.</small>", elem_id="eai-footer")

        outputs = {"error": error, "notice": notice, "warnings": warnings, "clip": clip_md, "animation": animation,
                   "probabilities": probs, "llm_alone": llm_alone, "timeline": timeline, "explanation": explanation,
                   "evidence": evidence, "cues": cues, "json": download, "status": status, "busy": run_btn}
        out_list = list(outputs.values()) + [cues_box]

        def to_gradio(update: Mapping[str, Any]) -> dict:
            out: dict = {}
            for key, value in update.items():
                comp = outputs[key]
                if key == "error":
                    out[comp] = gr.update(value=f"**Could not interpret this clip.** {value}" if value else "",
                                          visible=bool(value))
                elif key == "busy":
                    out[comp] = gr.update(interactive=not value, value="Interpreting…" if value else "Interpret")
                elif key in ("evidence", "cues"):
                    out[comp] = gr.update(value=table_frame(value, EVIDENCE_HEADERS if key == "evidence" else
                                                            CUE_HEADERS), visible=bool(value))
                    if key == "cues":
                        out[cues_box] = gr.update(visible=bool(value))
                elif key == "explanation":
                    out[comp] = gr.update(value=f"#### Explanation\n{value}" if value else "", visible=bool(value))
                elif key in _HIDDEN_WHEN_EMPTY:
                    empty = value is None or (isinstance(value, str) and not value)
                    out[comp] = gr.update(value=value, visible=not empty)
                else:
                    out[comp] = value
            return out

        def preview(path: str | None, layout_name: str | None):
            for update in be.preview(path, layout_name):
                yield to_gradio(update)

        def interpret(path: str | None, layout_name: str | None):
            for update in be.run(path, layout_name, render=False):
                yield to_gradio(update)

        def interpret_example(path: str | None, layout_name: str | None):
            for update in be.run(path, layout_name, render=True):
                yield to_gradio(update)

        n = be.limits.concurrency
        shown = dict(inputs=[upload, layout], outputs=out_list, show_progress="minimal",
                     show_progress_on=[status], trigger_mode="always_last")
        run_btn.click(interpret, concurrency_id="interpret", concurrency_limit=n,
                      **{**shown, "show_progress": "full"})
        # previews read and draw (no model): their own group, a little wider than the model's. (No ``cancels=``
        # of the running interpretation: Gradio runs the cancel as its own event, which under load can land on
        # the *next* Interpret and kill it; an abandoned request stops generating when its page goes away.)
        upload.upload(preview, concurrency_id="preview", concurrency_limit=n + 2, **shown)
        layout.input(preview, concurrency_id="preview", concurrency_limit=n + 2, **shown)
        upload.clear(lambda: to_gradio(be.reset(busy=False)), outputs=out_list, queue=False, show_progress="hidden")
        if examples:
            with example_box:
                gr.Examples([[p, lay] for p, lay, _ in examples], inputs=[upload, layout],
                            example_labels=[label for *_, label in examples], label="Examples (click to run)",
                            fn=interpret_example, outputs=out_list, run_on_click=True, cache_examples=False,
                            examples_per_page=10)
        timer = gr.Timer(1.0, active=be.holder.state != "ready")

        def poll() -> tuple:
            done = be.holder.state in ("ready", "failed")
            return be.holder.status_markdown(), gr.Timer(active=not done)

        timer.tick(poll, outputs=[status, timer], show_progress="hidden", concurrency_limit=None, queue=False)
        demo.load(lambda: be.holder.status_markdown(), outputs=status, show_progress="hidden", queue=False)
    demo.queue(default_concurrency_limit=n, max_size=64)
    demo.eai_backend = be  # for tests and for serve()
    demo.eai_examples_dir = Path(examples_dir) if examples_dir and Path(examples_dir).is_dir() else None
    _close_with_backend(demo, be)
    return demo


def _close_with_backend(demo: "gr.Blocks", be: DemoBackend) -> None:
    """``demo.close()`` also removes the backend's work folder (and the backend's atexit hook does at exit)."""
    close = demo.close

    def close_all(*args, **kwargs):
        try:
            return close(*args, **kwargs)
        finally:
            be.close()

    demo.close = close_all


def launch(demo: "gr.Blocks", *, host: str = "127.0.0.1", port: int | None = 7860,
           limits: DemoLimits | None = None, prevent_thread_lock: bool = False, quiet: bool = False) -> "gr.Blocks":
    """Launch a demo from :func:`build_demo` with the theme, CSS and upload limit (Gradio 6 ``launch()`` arguments)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    limits = limits or getattr(getattr(demo, "eai_backend", None), "limits", None) or DemoLimits()
    allowed = [str(demo.eai_examples_dir)] if getattr(demo, "eai_examples_dir", None) else []
    demo.launch(server_name=host, server_port=port, theme=_theme(), css=CSS, max_file_size=limits.max_bytes,
                allowed_paths=allowed, show_error=False, ssr_mode=False, prevent_thread_lock=prevent_thread_lock,
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
    if not prevent_thread_lock:
        demo.eai_backend.close()            # the server stopped (Ctrl-C): its request files go with it
        if not holder.wait(0):              # stopped while the model was loading: exit cleanly, not mid-load
            print("waiting for the model to finish loading before exiting…", flush=True)
            holder.wait()
    return demo
