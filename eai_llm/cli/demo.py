"""`demo`: the Gradio web demo."""

from __future__ import annotations

from ._common import UserError, command, quiet_model_loading


@command
def cmd_demo(model: str | None = None, host: str = "127.0.0.1", port: int = 7860, max_upload_mb: float = 20.0,
             max_seconds: float = 120.0, max_new_tokens: int = 40, concurrency: int = 2,
             request_seconds: float = 120.0, verbose: bool = False) -> int:
    """Start the web demo (Gradio): upload a clip, see the emotion, the explanation and its evidence.

    model: a model directory (default: the bundled model).
    host: the address to bind (127.0.0.1 = this machine only; 0.0.0.0 = every interface).
    port: the port to serve on.
    max_upload_mb: the largest upload accepted, in MB.
    max_seconds: the longest clip accepted, in seconds.
    max_new_tokens: explanation length limit.
    concurrency: requests served at once (each holds one clip's activations; the rest wait in a queue).
    request_seconds: the longest one request may take before the page is told so.
    verbose: show the libraries' model-loading messages.
    """
    try:
        from ..demo.limits import DemoLimits

        limits = DemoLimits(max_upload_mb, max_seconds, request_seconds=request_seconds, concurrency=concurrency)
    except ValueError as err:
        raise UserError(f"demo: {err}") from None
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise UserError("demo: gradio is not installed; run `make demo` or pip install 'eai-llm[demo]'") from None
    from ..demo import resolve_model_dir, serve

    quiet_model_loading(verbose)
    try:
        model_dir = resolve_model_dir(model)
    except FileNotFoundError as err:
        raise UserError(f"{err.filename}: no such model directory" if err.filename else str(err)) from None
    try:
        serve(model_dir, host=host, port=port, limits=limits,
              max_new_tokens=max_new_tokens)
    except OSError as err:  # e.g. the port is taken
        raise UserError(f"demo: cannot serve on {host}:{port}: {' '.join(str(err).split())}") from None
    return 0
