"""`eai-llm serve`: the HTTP API (FastAPI + uvicorn) over one loaded model; see :mod:`.app`."""

from __future__ import annotations

from .limits import ServeLimits

__all__ = ["ServeLimits", "create_app", "run"]


def create_app(*args, **kwargs):
    from .app import create_app as _create

    return _create(*args, **kwargs)


def run(model_dir, *, host: str = "127.0.0.1", port: int = 8000, limits: ServeLimits = ServeLimits(),
        dtype: str = "auto", log_level: str = "info", verbose: bool = False) -> None:
    """Serve until interrupted (the model loads before the port opens)."""
    import logging

    import uvicorn

    logging.getLogger("eai_llm.serve").setLevel(logging.INFO)
    if not logging.getLogger("eai_llm.serve").handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s eai-llm serve: %(message)s", "%H:%M:%S"))
        logging.getLogger("eai_llm.serve").addHandler(handler)
    uvicorn.run(create_app(model_dir, limits=limits, dtype=dtype, verbose=verbose), host=host, port=port, log_level=log_level)
