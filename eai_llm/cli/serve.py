"""`serve`: the HTTP API (FastAPI + uvicorn)."""

from __future__ import annotations

from typing import Literal

from ._common import UserError, check_positive, check_threads, command, model_dir_and_labels, quiet_model_loading, \
    set_threads


@command
def cmd_serve(model: str | None = None, host: str = "127.0.0.1", port: int = 8000, max_upload_mb: float = 20.0,
              max_seconds: float = 120.0, request_timeout: float = 60.0, max_new_tokens: int = 40,
              dtype: Literal["auto", "float32", "bfloat16"] = "auto", threads: int | None = None,
              verbose: bool = False) -> int:
    """Serve the HTTP API: POST /v1/interpret (multipart, the clip in field `file`), GET /v1/health, GET /v1/model; OpenAPI docs at /docs.

    model: a model directory (default: the bundled model).
    host: the address to bind (127.0.0.1 = this machine only; 0.0.0.0 = every interface).
    port: the port to serve on.
    max_upload_mb: the largest upload accepted, in MB.
    max_seconds: the longest clip accepted, in seconds.
    request_timeout: the longest a request may take, in seconds (then 504; the server keeps serving).
    max_new_tokens: explanation length limit (a request may ask for fewer).
    dtype: the LLM's precision: auto (bfloat16 where the CPU/GPU computes it natively, else float32).
    threads: torch CPU threads (default: $OMP_NUM_THREADS when set, else all cores).
    verbose: show the libraries' model-loading messages.
    """
    try:
        import fastapi  # noqa: F401
        import python_multipart  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise UserError("serve: fastapi, uvicorn and python-multipart are needed; pip install 'eai-llm[serve]'") from None
    from ..serve import ServeLimits, run

    check_threads(threads)
    if not 0 < port < 65536:
        raise UserError(f"--port: expected 1-65535, got {port}")
    for name, value in (("max_upload_mb", max_upload_mb), ("max_seconds", max_seconds),
                        ("request_timeout", request_timeout), ("max_new_tokens", max_new_tokens)):
        check_positive(name, value)
    model_path, _ = model_dir_and_labels(model)
    set_threads(threads)
    quiet_model_loading(verbose)
    try:
        run(model_path, host=host, port=port, dtype=dtype, verbose=verbose,
            limits=ServeLimits(max_upload_mb, max_seconds, request_timeout, max_new_tokens))
    except OSError as err:  # e.g. the port is taken
        raise UserError(f"serve: cannot serve on {host}:{port}: {' '.join(str(err).split())}") from None
    return 0
